//! Kubernetes resource quantities for CPU and memory, the two a budget limits: parsed from
//! the spellings operators write (`2`, `500m`, `0.5`; `1Gi`, `512Mi`, `1G`) and printed in
//! the canonical form kube-apiserver prints (`1`, `1500m`; `1Gi`, `1536Mi`), so the
//! messages we compose read like the API server's own.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// CPU in millicores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cpu(pub u64);

/// Memory in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Memory(pub u64);

/// Bytes in a mebibyte.
pub const MIB: u64 = 1 << 20;

/// A quantity that is not one we accept, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a {what} quantity: {why}")]
pub struct QuantityError {
    text: String,
    what: &'static str,
    why: &'static str,
}

/// Memory suffixes and their bytes, binary first (`Mi` before `M`).
const PARSE_SUFFIXES: [(&str, u64); 10] = [
    ("Ki", 1 << 10),
    ("Mi", 1 << 20),
    ("Gi", 1 << 30),
    ("Ti", 1 << 40),
    ("Pi", 1 << 50),
    ("k", 1_000),
    ("M", 1_000_000),
    ("G", 1_000_000_000),
    ("T", 1_000_000_000_000),
    ("P", 1_000_000_000_000_000),
];

impl Cpu {
    /// Parses `2`, `0.5`, `500m`.
    ///
    /// # Errors
    /// [`QuantityError`] for anything else, or a value finer than a millicore.
    pub fn parse(text: &str) -> Result<Self, QuantityError> {
        let fail = |why| QuantityError {
            text: text.to_owned(),
            what: "CPU",
            why,
        };
        let trimmed = text.trim();
        let (number, scale) = match trimmed.strip_suffix('m') {
            Some(number) => (number, 1),
            None => (trimmed, 1000),
        };
        let millis = scaled(number, scale)
            .ok_or_else(|| fail("write cores (`2`, `0.5`) or millicores (`500m`)"))?;
        Ok(Self(millis))
    }
}

impl Memory {
    /// Parses `1Gi`, `512Mi`, `1G`, `1000000` (bytes).
    ///
    /// # Errors
    /// [`QuantityError`] for anything else.
    pub fn parse(text: &str) -> Result<Self, QuantityError> {
        let fail = |why| QuantityError {
            text: text.to_owned(),
            what: "memory",
            why,
        };
        let trimmed = text.trim();

        let (number, scale) = PARSE_SUFFIXES
            .iter()
            .find_map(|(suffix, scale)| trimmed.strip_suffix(suffix).map(|n| (n, *scale)))
            .unwrap_or((trimmed, 1));
        let bytes = scaled(number, scale)
            .ok_or_else(|| fail("write bytes with a suffix, e.g. `512Mi`, `2Gi`, `1G`"))?;
        Ok(Self(bytes))
    }
}

/// `number` (digits, optionally one `.` and decimals) times `scale`, when that is a whole
/// number that fits.
fn scaled(number: &str, scale: u64) -> Option<u64> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if !whole
        .chars()
        .chain(fraction.chars())
        .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let value = whole.checked_mul(scale)?;
    if fraction.is_empty() {
        return Some(value);
    }
    // The decimals times the scale must come out whole: finer than the unit is refused
    // rather than rounded.
    let digits = u32::try_from(fraction.len()).ok()?;
    let denominator = 10_u64.checked_pow(digits)?;
    let extra = fraction.parse::<u64>().ok()?.checked_mul(scale)?;
    (extra % denominator == 0).then_some(())?;
    value.checked_add(extra / denominator)
}

impl fmt::Display for Cpu {
    /// Whole cores as a number, anything else in millicores (`1`, `1500m`, `0`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(1000) {
            write!(f, "{}", self.0 / 1000)
        } else {
            write!(f, "{}m", self.0)
        }
    }
}

impl fmt::Display for Memory {
    /// The largest binary suffix that keeps the number whole (`1Gi`, `1536Mi`, `0`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SUFFIXES: [(&str, u64); 5] = [
            ("Pi", 1 << 50),
            ("Ti", 1 << 40),
            ("Gi", 1 << 30),
            ("Mi", 1 << 20),
            ("Ki", 1 << 10),
        ];
        if self.0 == 0 {
            return f.write_str("0");
        }
        for (suffix, scale) in SUFFIXES {
            if self.0.is_multiple_of(scale) {
                return write!(f, "{}{suffix}", self.0 / scale);
            }
        }
        write!(f, "{}", self.0)
    }
}

/// A quantity as YAML may hold it: `cpu: 2` is a number, `cpu: 500m` a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Written {
    Text(String),
    Whole(u64),
    Fraction(f64),
}

impl Written {
    fn text(self) -> String {
        match self {
            Self::Text(text) => text,
            Self::Whole(n) => n.to_string(),
            Self::Fraction(x) => x.to_string(),
        }
    }
}

impl Serialize for Cpu {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cpu {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::parse(&Written::deserialize(deserializer)?.text()).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Memory {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Memory {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::parse(&Written::deserialize(deserializer)?.text()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_reads_cores_fractions_and_millicores() {
        assert_eq!(Cpu::parse("2"), Ok(Cpu(2000)));
        assert_eq!(Cpu::parse("0.5"), Ok(Cpu(500)));
        assert_eq!(Cpu::parse("1.25"), Ok(Cpu(1250)));
        assert_eq!(Cpu::parse("250m"), Ok(Cpu(250)));
        assert!(Cpu::parse("0.0005").is_err());
        assert!(Cpu::parse("two").is_err());
        assert!(Cpu::parse("").is_err());
        assert!(Cpu::parse("-1").is_err());
    }

    #[test]
    fn memory_reads_binary_and_decimal_suffixes() {
        assert_eq!(Memory::parse("1Gi"), Ok(Memory(1 << 30)));
        assert_eq!(Memory::parse("512Mi"), Ok(Memory(512 << 20)));
        assert_eq!(Memory::parse("1.5Gi"), Ok(Memory(1536 << 20)));
        assert_eq!(Memory::parse("1G"), Ok(Memory(1_000_000_000)));
        assert_eq!(Memory::parse("4096"), Ok(Memory(4096)));
        assert!(Memory::parse("1GB").is_err());
    }

    #[test]
    fn quantities_print_as_kube_apiserver_prints_them() {
        assert_eq!(Cpu(1000).to_string(), "1");
        assert_eq!(Cpu(1500).to_string(), "1500m");
        assert_eq!(Cpu(0).to_string(), "0");
        assert_eq!(Memory(1 << 30).to_string(), "1Gi");
        assert_eq!(Memory(1536 << 20).to_string(), "1536Mi");
        assert_eq!(Memory(0).to_string(), "0");
        assert_eq!(Memory(1000).to_string(), "1000");
    }

    #[test]
    fn yaml_numbers_and_strings_both_read() {
        let cpu: Cpu = serde_norway::from_str("2").expect("number");
        assert_eq!(cpu, Cpu(2000));
        let cpu: Cpu = serde_norway::from_str("0.5").expect("fraction");
        assert_eq!(cpu, Cpu(500));
        let memory: Memory = serde_norway::from_str("\"2Gi\"").expect("string");
        assert_eq!(memory, Memory(2 << 30));
    }
}
