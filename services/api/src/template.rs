//! Templated text: strings that may reference earlier steps' outputs as
//! `${steps.<name>.<field>}`. `$${` is a literal `${`; any other `$` is literal.
//!
//! Parsing happens once, at submission, so a malformed or dangling reference is refused up
//! front with the field's path; execution only substitutes values.

use std::fmt;

/// A field of a step's output that text can reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputField {
    /// Final URL of a navigation.
    Url,
    /// Page title after a navigation.
    Title,
    /// HTTP status of a navigation's main document.
    Status,
    /// First extracted value.
    Text,
    /// Every extracted value, as a JSON array.
    Values,
    /// Number of extracted values.
    Count,
    /// A script's result as JSON.
    Json,
    /// Cookies as a JSON array.
    Cookies,
    /// A chat completion's content.
    Content,
}

impl OutputField {
    /// Every field, for error messages and parsing.
    pub const ALL: [OutputField; 9] = [
        Self::Url,
        Self::Title,
        Self::Status,
        Self::Text,
        Self::Values,
        Self::Count,
        Self::Json,
        Self::Cookies,
        Self::Content,
    ];

    /// The field's name in a reference.
    pub fn name(self) -> &'static str {
        match self {
            Self::Url => "url",
            Self::Title => "title",
            Self::Status => "status",
            Self::Text => "text",
            Self::Values => "values",
            Self::Count => "count",
            Self::Json => "json",
            Self::Cookies => "cookies",
            Self::Content => "content",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for OutputField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A reference to an earlier step's output.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StepRef {
    /// The referenced step's name.
    pub step: String,
    /// The referenced field of its output.
    pub field: OutputField,
}

/// A piece of templated text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Text used as is (with `$${` already turned into `${`).
    Literal(String),
    /// A value substituted at execution.
    Ref(StepRef),
}

/// Text that may contain references; keeps its source so it converts back to the wire as
/// written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    segments: Vec<Segment>,
}

impl Template {
    /// Parses `source`. Errors describe the first malformed reference.
    pub fn parse(source: &str) -> Result<Self, String> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = source;
        while let Some(at) = rest.find('$') {
            literal.push_str(&rest[..at]);
            let after = &rest[at..];
            if let Some(tail) = after.strip_prefix("$${") {
                literal.push_str("${");
                rest = tail;
            } else if let Some(tail) = after.strip_prefix("${") {
                let end = tail
                    .find('}')
                    .ok_or_else(|| format!("reference at byte {at} is not closed with '}}'"))?;
                let reference = parse_reference(&tail[..end])?;
                if !literal.is_empty() {
                    segments.push(Segment::Literal(std::mem::take(&mut literal)));
                }
                segments.push(Segment::Ref(reference));
                rest = &tail[end + 1..];
            } else {
                literal.push('$');
                rest = &after[1..];
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(Self {
            source: source.to_owned(),
            segments,
        })
    }

    /// A template with no references.
    pub fn literal(text: &str) -> Self {
        Self::parse(&text.replace("${", "$${")).unwrap_or_else(|_| Self {
            source: text.to_owned(),
            segments: vec![Segment::Literal(text.to_owned())],
        })
    }

    /// The text as written, references included.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The parsed pieces.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The references, in order of appearance.
    pub fn references(&self) -> impl Iterator<Item = &StepRef> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Ref(r) => Some(r),
            Segment::Literal(_) => None,
        })
    }

    /// True if the text has no references.
    pub fn is_literal(&self) -> bool {
        self.references().next().is_none()
    }

    /// The literal text before the first reference (all of it if there is none).
    pub fn literal_prefix(&self) -> &str {
        match self.segments.first() {
            Some(Segment::Literal(text)) => text,
            _ => "",
        }
    }

    /// Substitutes every reference with `lookup`'s value; the first unresolved reference is
    /// returned as the error.
    pub fn render(
        &self,
        mut lookup: impl FnMut(&StepRef) -> Option<String>,
    ) -> Result<String, &StepRef> {
        let mut out = String::with_capacity(self.source.len());
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Ref(reference) => out.push_str(&lookup(reference).ok_or(reference)?),
            }
        }
        Ok(out)
    }
}

fn parse_reference(inner: &str) -> Result<StepRef, String> {
    let mut parts = inner.trim().split('.');
    let (Some("steps"), Some(step), Some(field), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!(
            "reference ${{{inner}}} must have the form ${{steps.<name>.<field>}}"
        ));
    };
    if step.is_empty() {
        return Err(format!("reference ${{{inner}}} names no step"));
    }
    let field = OutputField::parse(field).ok_or_else(|| {
        let known: Vec<&str> = OutputField::ALL.iter().map(|f| f.name()).collect();
        format!(
            "reference ${{{inner}}} names unknown field {field:?}; known fields: {}",
            known.join(", ")
        )
    })?;
    Ok(StepRef {
        step: step.to_owned(),
        field,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_one_literal() {
        let t = Template::parse("hello $5 world").unwrap();
        assert!(t.is_literal());
        assert_eq!(t.segments(), [Segment::Literal("hello $5 world".into())]);
    }

    #[test]
    fn references_split_the_text() {
        let t =
            Template::parse("Summarise: ${steps.table.text} (from ${ steps.open.url })").unwrap();
        let refs: Vec<_> = t.references().map(|r| (r.step.as_str(), r.field)).collect();
        assert_eq!(
            refs,
            [("table", OutputField::Text), ("open", OutputField::Url)]
        );
        assert_eq!(t.literal_prefix(), "Summarise: ");
        let rendered = t.render(|r| Some(format!("<{}>", r.step))).unwrap();
        assert_eq!(rendered, "Summarise: <table> (from <open>)");
    }

    #[test]
    fn doubled_dollar_is_a_literal_reference() {
        let t = Template::parse("cost $${steps.a.text}").unwrap();
        assert!(t.is_literal());
        assert_eq!(t.render(|_| None).unwrap(), "cost ${steps.a.text}");
        let round = Template::literal("a ${b}");
        assert_eq!(round.render(|_| None).unwrap(), "a ${b}");
    }

    #[test]
    fn malformed_references_are_refused() {
        for bad in [
            "${steps.a.text",
            "${step.a.text}",
            "${steps.a}",
            "${steps..text}",
            "${steps.a.text.more}",
            "${steps.a.nope}",
            "${}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn unresolved_reference_is_reported() {
        let t = Template::parse("${steps.a.text}").unwrap();
        assert_eq!(t.render(|_| None).unwrap_err().step, "a");
    }
}
