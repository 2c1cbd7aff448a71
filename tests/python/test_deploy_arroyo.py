"""deploy/arroyo/*.sql call only UDFs that udf/pricing defines (one `udfs/<name>.rs` each, the
function of that name annotated `#[udf]`), with as many arguments as the UDF takes."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UDFS = ROOT / "udf" / "pricing" / "udfs"
SQL = sorted((ROOT / "deploy" / "arroyo").glob("*.sql"))


def udf_arities() -> dict[str, int]:
    out = {}
    for f in UDFS.glob("*.rs"):
        src = f.read_text()
        m = re.search(r"#\[udf\][^f]*fn\s+(\w+)\s*\((.*?)\)\s*->", src, re.S)
        assert m, f"{f}: no #[udf] function"
        assert m.group(1) == f.stem, f"{f}: the UDF must be named after its file"
        params = [p for p in m.group(2).split(",") if p.strip()]
        out[m.group(1)] = len(params)
    return out


def calls(sql: str, name: str) -> list[int]:
    """Argument counts of every call of `name` in `sql` (top-level commas only)."""
    counts = []
    for m in re.finditer(rf"\b{name}\s*\(", sql):
        depth, args, i = 1, 1, m.end()
        while depth:
            c = sql[i]
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
            elif c == "," and depth == 1:
                args += 1
            i += 1
        counts.append(args)
    return counts


def test_there_is_pricing_sql_and_it_uses_the_udfs():
    assert any(p.name == "pricing.sql" for p in SQL)
    text = (ROOT / "deploy" / "arroyo" / "pricing.sql").read_text()
    assert calls(text, "effective_price_json") and calls(text, "rule_json")


def test_every_udf_call_names_a_udf_with_its_arity():
    arities = udf_arities()
    assert {"rule_json", "effective_price", "effective_price_json"} <= set(arities)
    for path in SQL:
        sql = re.sub(r"--[^\n]*", "", path.read_text())
        for name, n in arities.items():
            for got in calls(sql, name):
                assert got == n, f"{path.name}: {name} called with {got} arguments, takes {n}"
