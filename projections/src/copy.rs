//! Bulk loading with `COPY … FROM STDIN` (text format), for building read models from nothing: rows are
//! encoded in memory and streamed to PostgreSQL, several times faster than `INSERT … SELECT unnest`.

use std::fmt::Display;
use std::io::Write;

use sqlx::PgConnection;

/// Rows encoded for `COPY … FROM STDIN` in the text format.
#[derive(Default)]
pub struct CopyRows {
    buffer: Vec<u8>,
    fields: usize,
    rows: usize,
}

impl CopyRows {
    fn separate(&mut self) {
        if self.fields > 0 {
            self.buffer.push(b'\t');
        }
        self.fields += 1;
    }

    /// A text field; backslashes, tabs and line breaks are escaped.
    pub fn text(&mut self, value: &str) -> &mut Self {
        self.separate();
        if !value.bytes().any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r')) {
            self.buffer.extend_from_slice(value.as_bytes());
            return self;
        }
        for byte in value.bytes() {
            match byte {
                b'\\' => self.buffer.extend_from_slice(b"\\\\"),
                b'\t' => self.buffer.extend_from_slice(b"\\t"),
                b'\n' => self.buffer.extend_from_slice(b"\\n"),
                b'\r' => self.buffer.extend_from_slice(b"\\r"),
                other => self.buffer.push(other),
            }
        }
        self
    }

    /// A field whose text form (numbers, dates, booleans) needs no escaping.
    pub fn plain(&mut self, value: impl Display) -> &mut Self {
        self.separate();
        write!(self.buffer, "{value}").expect("writing to memory cannot fail");
        self
    }

    pub fn null(&mut self) -> &mut Self {
        self.separate();
        self.buffer.extend_from_slice(b"\\N");
        self
    }

    pub fn optional_text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(value) => self.text(value),
            None => self.null(),
        }
    }

    pub fn optional(&mut self, value: Option<impl Display>) -> &mut Self {
        match value {
            Some(value) => self.plain(value),
            None => self.null(),
        }
    }

    /// A `bytea` field, in hex (`\\x…`: COPY's escape of the backslash, then bytea's hex form).
    pub fn optional_bytes(&mut self, value: Option<&[u8]>) -> &mut Self {
        let Some(bytes) = value else { return self.null() };
        self.separate();
        self.buffer.extend_from_slice(b"\\\\x");
        self.buffer.extend_from_slice(hex::encode(bytes).as_bytes());
        self
    }

    pub fn end_row(&mut self) {
        self.buffer.push(b'\n');
        self.fields = 0;
        self.rows += 1;
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Send the rows into `table`'s `columns`, and start afresh.
    pub async fn send(
        &mut self,
        conn: &mut PgConnection,
        table: &str,
        columns: &[&str],
    ) -> Result<(), sqlx::Error> {
        if self.rows == 0 {
            return Ok(());
        }
        let sql = format!("COPY {table} ({}) FROM STDIN", columns.join(", "));
        let mut copy = conn.copy_in_raw(&sql).await?;
        copy.send(std::mem::take(&mut self.buffer)).await?;
        copy.finish().await?;
        *self = CopyRows::default();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::CopyRows;

    #[test]
    fn fields_are_tab_separated_and_escaped() {
        let mut rows = CopyRows::default();
        rows.text("a\tb\\c\nd").plain(42).null().optional_text(Some("é")).optional(None::<i16>);
        rows.optional_bytes(Some(&[0x01, 0xab])).optional_bytes(None);
        rows.end_row();
        assert_eq!(
            String::from_utf8(rows.buffer).unwrap_or_default(),
            "a\\tb\\\\c\\nd\t42\t\\N\té\t\\N\t\\\\x01ab\t\\N\n"
        );
        assert_eq!(rows.rows, 1);
    }
}
