//! Field rules shared by every endpoint, as plain functions returning a [`Problem`] that names
//! the field; and [`Json`], the body extractor that rejects unknown fields, wrong types and
//! oversized bodies with a problem naming the path. Nothing here does I/O.

use axum::extract::{FromRequest, Request};
use axum::http::header;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// Largest request body accepted (the issue's 256 KiB).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Units per line / cart operation.
pub const QUANTITY: std::ops::RangeInclusive<i32> = 1..=1000;
/// Upper bound of any single money amount in minor units (10^13 paise = 100 billion rupees):
/// far above any real order, far below `i64` overflow when summed over 100 lines of 1000 units.
pub const MAX_MINOR: i64 = 10_000_000_000_000;

type Check = Result<(), Problem>;

/// Non-blank text of `1..=max` characters without control characters.
pub fn text(field: &str, v: &str, max: usize) -> Check {
    if v.trim().is_empty() {
        return Err(Problem::invalid(field, "must not be empty or blank"));
    }
    optional_text(field, Some(v), max)
}

/// Like [`text`] for an optional field (absent is fine; present must be non-blank).
pub fn optional_text(field: &str, v: Option<&str>, max: usize) -> Check {
    let Some(v) = v else { return Ok(()) };
    if v.trim().is_empty() {
        return Err(Problem::invalid(field, "must not be blank when given"));
    }
    let n = v.chars().count();
    if n > max {
        return Err(Problem::invalid(
            field,
            format!("must be at most {max} characters, got {n}"),
        ));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Problem::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// An identifier (SKU, product, rule, session, order, provider reference): 1..=128 of
/// `A-Z a-z 0-9 . _ - :`, so it is safe as a Kafka key, a Redis key part and in a URL.
pub fn id(field: &str, v: &str) -> Check {
    if v.is_empty() || v.len() > 128 {
        return Err(Problem::invalid(field, "must be 1..=128 characters"));
    }
    if !v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
    {
        return Err(Problem::invalid(
            field,
            "may contain only letters, digits and . _ - :",
        ));
    }
    Ok(())
}

/// Active ISO 4217 alphabetic codes.
const CURRENCIES: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG";

/// An active ISO 4217 code (upper-case).
pub fn currency(field: &str, v: &str) -> Check {
    if v.len() == 3 && CURRENCIES.split(' ').any(|c| c == v) {
        Ok(())
    } else {
        Err(Problem::invalid(
            field,
            format!("{v:?} is not an ISO 4217 currency code (3 upper-case letters, e.g. INR)"),
        ))
    }
}

/// Assigned ISO 3166-1 alpha-2 codes.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// An assigned ISO 3166-1 alpha-2 country code (upper-case).
pub fn country(field: &str, v: &str) -> Check {
    if v.len() == 2 && COUNTRIES.split(' ').any(|c| c == v) {
        Ok(())
    } else {
        Err(Problem::invalid(
            field,
            format!("{v:?} is not an ISO 3166-1 alpha-2 country code (e.g. IN)"),
        ))
    }
}

/// Money in minor units: `0..=MAX_MINOR`.
pub fn money(field: &str, v: i64) -> Check {
    if (0..=MAX_MINOR).contains(&v) {
        Ok(())
    } else {
        Err(Problem::invalid(
            field,
            format!("must be an integer amount in minor units, 0..={MAX_MINOR}"),
        ))
    }
}

/// Positive money in minor units: `1..=MAX_MINOR`.
pub fn positive_money(field: &str, v: i64) -> Check {
    if v == 0 {
        return Err(Problem::invalid(field, "must be greater than 0"));
    }
    money(field, v)
}

/// A unit quantity in [`QUANTITY`].
pub fn quantity(field: &str, v: i32) -> Check {
    if QUANTITY.contains(&v) {
        Ok(())
    } else {
        Err(Problem::invalid(field, "must be 1..=1000"))
    }
}

/// An absolute `https://` URL of at most 2048 bytes without spaces.
pub fn https_url(field: &str, v: &str) -> Check {
    let host = v.strip_prefix("https://").unwrap_or("");
    let host = host.split(['/', '?', '#']).next().unwrap_or("");
    if v.len() > 2048 || host.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Problem::invalid(
            field,
            "must be an absolute https:// URL (at most 2048 characters)",
        ));
    }
    Ok(())
}

/// A page URL or app route reported by a storefront: `http(s)://…` or a path starting with
/// `/`, at most 2048 bytes, no whitespace.
pub fn page_url(field: &str, v: &str) -> Check {
    let ok = (v.starts_with("https://") || v.starts_with("http://") || v.starts_with('/'))
        && v.len() <= 2048
        && !v.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(Problem::invalid(
            field,
            "must be an http(s) URL or an absolute path, at most 2048 characters",
        ))
    }
}

/// A plausible email address: `local@domain.tld`, at most 254 bytes, no spaces.
pub fn email(field: &str, v: &str) -> Check {
    let ok = v.len() <= 254
        && v.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && local.len() <= 64
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
                && domain
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
        })
        && !v.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(Problem::invalid(field, "must be an email address"))
    }
}

/// A phone number in E.164 form: `+` then 7 to 15 digits, not starting with 0.
pub fn e164(field: &str, v: &str) -> Check {
    let digits = v.strip_prefix('+').unwrap_or("");
    if (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
    {
        Ok(())
    } else {
        Err(Problem::invalid(
            field,
            "must be an E.164 phone number, e.g. +919812345678",
        ))
    }
}

/// A BCP 47 language tag of the common form `ll[-Subtag…]` (e.g. `en-IN`, `hi-IN`).
pub fn locale(field: &str, v: &str) -> Check {
    let mut parts = v.split('-');
    let lang = parts.next().unwrap_or("");
    let ok = (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && v.len() <= 35
        && parts
            .all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if ok {
        Ok(())
    } else {
        Err(Problem::invalid(
            field,
            "must be a BCP 47 language tag, e.g. en-IN",
        ))
    }
}

/// At most `max` items.
pub fn max_items<T>(field: &str, v: &[T], max: usize) -> Check {
    if v.len() > max {
        return Err(Problem::invalid(
            field,
            format!("must have at most {max} items, got {}", v.len()),
        ));
    }
    Ok(())
}

/// A JSON body of type `T`, parsed strictly: `Content-Type: application/json`, at most
/// [`MAX_BODY_BYTES`], every field known (types use `deny_unknown_fields`). Errors are problems
/// naming the path of the bad field.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                let m = m.trim();
                m.eq_ignore_ascii_case("application/json")
            });
        if !is_json {
            return Err(Problem::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "the body must be application/json",
            )
            .at("header.Content-Type"));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_problem)?;
        parse(&bytes).map(Json)
    }
}

/// Maps a body read failure (too large, aborted) to a problem.
pub fn body_problem(e: axum::extract::rejection::BytesRejection) -> Problem {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(
            e.status(),
            "too-large",
            "Payload too large",
            format!("the body must be at most {MAX_BODY_BYTES} bytes"),
        )
    } else {
        Problem::malformed(None, e.body_text())
    }
}

/// Parses JSON strictly into `T`, naming the path of the first error (`body.lines[1].sku`):
/// objects only where `T` has structs (no fields bound by position from an array), nothing
/// but whitespace after the document.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(crate::strict::Strict(&mut de)) {
        Ok(v) => de.end().map(|()| v).map_err(|_| {
            Problem::malformed(
                Some("body".into()),
                "trailing data after the JSON document: send exactly one value",
            )
        }),
        Err(e) => {
            let inner = e.inner().to_string();
            // serde_path_to_error includes an unknown field's name in the path.
            let path = e.path().to_string();
            let field = if path == "." {
                "body".to_owned()
            } else {
                format!("body.{path}")
            };
            // Strip serde's " at line 1 column 42" noise; the path says where.
            let detail = inner
                .rsplit_once(" at line ")
                .map_or(inner.as_str(), |(d, _)| d)
                .to_owned();
            Err(Problem::malformed(Some(field), detail))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        lines: Vec<Inner>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        sku: String,
        quantity: i32,
    }

    #[test]
    fn parse_names_the_path_of_bad_and_unknown_fields() {
        let e =
            parse::<Outer>(br#"{"lines":[{"sku":"a","quantity":1},{"sku":"b","quantity":"x"}]}"#)
                .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("body.lines[1].quantity"));
        assert_eq!(e.status, 400);
        let e = parse::<Outer>(br#"{"lines":[{"sku":"a","quantity":1,"evil":true}]}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("body.lines[0].evil"));
        let e = parse::<Outer>(br#"{"lines":[],"x":1}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("body.x"));
        let e = parse::<Outer>(b"not json").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("body"));
        assert!(parse::<Outer>(br#"{"lines":[]}"#).is_ok());
        assert!(parse::<Outer>(b" {\"lines\":[]} \n").is_ok());
    }

    #[test]
    fn parse_refuses_trailing_data_and_arrays_in_place_of_objects() {
        for trailing in [
            &br#"{"lines":[]}{"lines":[]}"#[..],
            br#"{"lines":[]} x"#,
            br#"{"lines":[]}]"#,
        ] {
            let e = parse::<Outer>(trailing).unwrap_err();
            assert_eq!((e.status, e.field.as_deref()), (400, Some("body")));
            assert!(e.detail.contains("trailing"), "{}", e.detail);
        }
        let e = parse::<Outer>(br#"[[{"sku":"a","quantity":1}]]"#).unwrap_err();
        assert_eq!((e.status, e.field.as_deref()), (400, Some("body")));
        assert!(
            e.detail.contains("an object with named fields"),
            "{}",
            e.detail
        );
        let e = parse::<Outer>(br#"{"lines":[["a",1]]}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("body.lines[0]"));
        assert!(e.detail.contains("not an array"), "{}", e.detail);
    }

    #[test]
    fn field_rules() {
        assert!(currency("c", "INR").is_ok());
        assert!(currency("c", "inr").is_err());
        assert!(currency("c", "XYZ").is_err());
        assert!(country("c", "IN").is_ok());
        assert!(country("c", "XX").is_err());
        assert!(quantity("q", 1).is_ok() && quantity("q", 1000).is_ok());
        assert!(quantity("q", 0).is_err() && quantity("q", 1001).is_err());
        assert!(money("m", 0).is_ok() && money("m", -1).is_err());
        assert!(money("m", MAX_MINOR + 1).is_err());
        assert!(positive_money("m", 0).is_err());
        assert!(id("i", "SKU-1.a_b:c").is_ok());
        assert!(
            id("i", "").is_err() && id("i", "a b").is_err() && id("i", &"x".repeat(129)).is_err()
        );
        assert!(text("t", "  ", 10).is_err() && text("t", "abc", 2).is_err());
        assert!(text("t", "a\u{0}", 10).is_err());
        assert!(https_url("u", "https://img.example/x.png").is_ok());
        assert!(https_url("u", "http://img.example/x.png").is_err());
        assert!(https_url("u", "https://").is_err());
        assert!(email("e", "a@b.in").is_ok());
        assert!(email("e", "a@b").is_err() && email("e", "a b@c.in").is_err());
        assert!(e164("p", "+919812345678").is_ok());
        assert!(e164("p", "9812345678").is_err() && e164("p", "+0123456").is_err());
        assert!(locale("l", "en-IN").is_ok() && locale("l", "hi").is_ok());
        assert!(locale("l", "EN").is_err() && locale("l", "en_IN").is_err());
        assert!(page_url("u", "/p/1").is_ok() && page_url("u", "javascript:x").is_err());
        assert_eq!(
            text("body.title", "", 5).unwrap_err().field.as_deref(),
            Some("body.title")
        );
    }
}
