//! Avro schema resolution with union members matched by name.
//!
//! apache-avro 0.22 resolves a union value into a reader union by taking the first reader
//! member the value's *shape* fits, ignoring which member the writer wrote. For our envelopes
//! that is wrong: `PaymentFailed` has every field of `PaymentAuthorized` (so it resolves to it),
//! and `StockReserved`/`StockReleased` are identical. The spec says a writer member resolves to
//! the reader member of the same name (or alias). So we let apache-avro resolve (defaults,
//! promotions, enum defaults, field matching), then walk writer value and resolved value
//! together and, wherever a named union member landed on a differently named reader member,
//! resolve it again into the right one; a named member the reader does not have is an error.

use std::collections::HashMap;

use apache_avro::Schema;
use apache_avro::error::Details;
use apache_avro::schema::{Name, ResolvedSchema, UnionSchema};
use apache_avro::types::Value;

type Names<'a> = HashMap<Name, &'a Schema>;

/// Resolves `value` (decoded with `writer`) into `reader`, matching named union members by name.
pub(crate) fn resolve(
    value: Value,
    writer: &Schema,
    reader: &Schema,
) -> Result<Value, apache_avro::Error> {
    let writer_names = names(writer)?;
    let reader_names = names(reader)?;
    let mut resolved = value.clone().resolve_with_names(reader, &reader_names)?;
    let ctx = Ctx {
        writer: &writer_names,
        reader: &reader_names,
    };
    ctx.fix(&value, writer, &mut resolved, reader)?;
    Ok(resolved)
}

fn names(schema: &Schema) -> Result<Names<'_>, apache_avro::Error> {
    let resolved = ResolvedSchema::try_from(schema)?;
    Ok(resolved
        .get_names()
        .iter()
        .map(|(n, s)| (n.clone(), *s))
        .collect())
}

struct Ctx<'a> {
    writer: &'a Names<'a>,
    reader: &'a Names<'a>,
}

fn deref<'s>(schema: &'s Schema, names: &'s Names<'_>) -> &'s Schema {
    match schema {
        Schema::Ref { name } => names.get(name).copied().unwrap_or(schema),
        other => other,
    }
}

/// Whether reader member `reader` is the one named like writer member `writer`.
fn same_name(writer: &Name, reader: &Schema) -> bool {
    let Some(name) = reader.name() else {
        return false;
    };
    let full = writer.fullname(None);
    if name.fullname(None) == full || name.name() == writer.name() {
        return true;
    }
    reader.aliases().into_iter().flatten().any(|a| {
        let qualified = match (a.namespace(), name.namespace()) {
            (Some(ns), _) | (None, Some(ns)) => format!("{ns}.{}", a.name()),
            (None, None) => a.name().to_owned(),
        };
        qualified == full || a.name() == writer.name()
    })
}

impl Ctx<'_> {
    fn fix(
        &self,
        value: &Value,
        writer: &Schema,
        resolved: &mut Value,
        reader: &Schema,
    ) -> Result<(), apache_avro::Error> {
        let writer = deref(writer, self.writer);
        let reader = deref(reader, self.reader);
        match (writer, value, reader, resolved) {
            (Schema::Union(wu), Value::Union(wi, inner), Schema::Union(ru), resolved) => {
                self.fix_union(wu, *wi as usize, inner, ru, resolved)
            }
            // The writer wrote a plain value and the reader has a union: look inside it.
            (_, _, Schema::Union(ru), Value::Union(ri, rinner)) => {
                let member = &ru.variants()[*ri as usize];
                self.fix(value, writer, rinner, member)
            }
            (
                Schema::Record(ws),
                Value::Record(wfields),
                Schema::Record(rs),
                Value::Record(rfields),
            ) => {
                for (rfield, (_, rvalue)) in rs.fields.iter().zip(rfields.iter_mut()) {
                    let found = ws.fields.iter().zip(wfields).find(|(wf, _)| {
                        wf.name == rfield.name || rfield.aliases.contains(&wf.name)
                    });
                    if let Some((wfield, (_, wvalue))) = found {
                        self.fix(wvalue, &wfield.schema, rvalue, &rfield.schema)?;
                    }
                }
                Ok(())
            }
            (Schema::Array(wa), Value::Array(witems), Schema::Array(ra), Value::Array(ritems)) => {
                for (w, r) in witems.iter().zip(ritems.iter_mut()) {
                    self.fix(w, &wa.items, r, &ra.items)?;
                }
                Ok(())
            }
            (Schema::Map(wm), Value::Map(wentries), Schema::Map(rm), Value::Map(rentries)) => {
                for (k, r) in rentries.iter_mut() {
                    if let Some(w) = wentries.get(k) {
                        self.fix(w, &wm.types, r, &rm.types)?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn fix_union(
        &self,
        wu: &UnionSchema,
        wi: usize,
        inner: &Value,
        ru: &UnionSchema,
        resolved: &mut Value,
    ) -> Result<(), apache_avro::Error> {
        let wmember = deref(&wu.variants()[wi], self.writer);
        if let Some(wname) = wmember.name() {
            // A named member resolves to the reader member of that name, or not at all (a member
            // added after this reader was built must fail, not pass as a look-alike).
            let Some(k) = ru
                .variants()
                .iter()
                .position(|r| same_name(wname, deref(r, self.reader)))
            else {
                let members: Vec<String> = ru
                    .variants()
                    .iter()
                    .filter_map(|r| deref(r, self.reader).name().map(|n| n.fullname(None)))
                    .collect();
                return Err(apache_avro::Error::new(Details::DeserializeValue(format!(
                    "union member {} (written at index {wi}) is not one of the reader's \
                     members {members:?}",
                    wname.fullname(None)
                ))));
            };
            if !matches!(&*resolved, Value::Union(ri, _) if *ri as usize == k) {
                let member = &ru.variants()[k];
                let again = inner.clone().resolve_with_names(member, self.reader)?;
                *resolved = Value::Union(k as u32, Box::new(again));
            }
        }
        let Value::Union(ri, rinner) = resolved else {
            return Ok(());
        };
        let rmember = &ru.variants()[*ri as usize];
        self.fix(inner, wmember, rinner, rmember)
    }
}
