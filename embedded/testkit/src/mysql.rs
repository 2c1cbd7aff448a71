//! The MariaDB the tests use. `DATABASE_URL` names the server and the login, as for `techpotli
//! dev` and the sinks; tests make throwaway databases named `techpotli_*` on that server, which
//! the project's user may create (`scripts/ensure-services.sh` grants it `techpotli%`.*).

/// The login `scripts/ensure-services.sh` creates; root keeps the machine's own authentication.
pub const DEFAULT_DATABASE_URL: &str = "mysql://techpotli:techpotli@127.0.0.1:3306/techpotli";

/// `DATABASE_URL` (or the default) without its database: `mysql://user:pass@host:port`.
pub fn server_url() -> String {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    match url[authority_start..].find('/') {
        Some(slash) => url[..authority_start + slash].to_owned(),
        None => url,
    }
}

/// The URL of database `name` on the test server.
pub fn database_url(name: &str) -> String {
    format!("{}/{name}", server_url())
}

/// Arguments for the `mariadb` command-line client that log in as [`server_url`] does.
pub fn client_args() -> Vec<String> {
    let server = server_url();
    let authority = server.split_once("://").map_or(server.as_str(), |(_, a)| a);
    let (login, host_port) = authority.rsplit_once('@').unwrap_or(("", authority));
    let (user, password) = login.split_once(':').unwrap_or((login, ""));
    let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, "3306"));
    let mut args = vec!["-h".into(), host.into(), "-P".into(), port.into()];
    if !user.is_empty() {
        args.extend(["-u".into(), user.into()]);
    }
    if !password.is_empty() {
        args.push(format!("-p{password}"));
    }
    args
}

#[cfg(test)]
mod tests {
    #[test]
    fn server_url_and_client_args_follow_the_database_url() {
        // The process environment is shared by tests: only read it here, never set it.
        let server = super::server_url();
        assert!(
            !server.trim_start_matches("mysql://").contains('/'),
            "{server}"
        );
        assert_eq!(super::database_url("x"), format!("{server}/x"));
        let args = super::client_args();
        assert_eq!(args[0], "-h");
        assert_eq!(args[2], "-P");
    }
}
