//! County codes: the six-digit GB/T 2260 administrative division codes that name every node.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A county-level division code (GB/T 2260), e.g. `610602` for 宝塔区.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountyCode([u8; 6]);

/// Why a text is not a county code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CountyCodeError {
    #[error("{0:?} is not a county code: it must be exactly 6 digits")]
    NotSixDigits(String),
    #[error("{0:?} is not a county code: {1:?} is not a province-level code of GB/T 2260")]
    UnknownProvince(String, String),
    #[error(
        "{0:?} is a province or prefecture code, not a county-level code (its last two digits are 00)"
    )]
    NotCountyLevel(String),
}

/// Province-level prefixes of GB/T 2260 (mainland, Hong Kong, Macao, Taiwan).
const PROVINCES: [u8; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];

impl CountyCode {
    /// Parses and checks a county code.
    pub fn parse(text: &str) -> Result<Self, CountyCodeError> {
        let bytes = text.as_bytes();
        if bytes.len() != 6 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(CountyCodeError::NotSixDigits(text.to_owned()));
        }
        let province = (bytes[0] - b'0') * 10 + (bytes[1] - b'0');
        if !PROVINCES.contains(&province) {
            return Err(CountyCodeError::UnknownProvince(
                text.to_owned(),
                text[..2].to_owned(),
            ));
        }
        if &bytes[4..] == b"00" {
            return Err(CountyCodeError::NotCountyLevel(text.to_owned()));
        }
        let mut code = [0u8; 6];
        code.copy_from_slice(bytes);
        Ok(Self(code))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("??????")
    }

    /// The code as six ASCII bytes, e.g. for store keys.
    pub fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// The Chinese name of the county if it is one of Yan'an's divisions.
    pub fn yanan_name(&self) -> Option<&'static str> {
        YANAN_COUNTIES
            .iter()
            .find(|(code, _)| *code == self.as_str())
            .map(|(_, name)| *name)
    }
}

/// The 13 county-level divisions of Yan'an (延安市), with their GB/T 2260 codes.
pub const YANAN_COUNTIES: [(&str, &str); 13] = [
    ("610602", "宝塔区"),
    ("610603", "安塞区"),
    ("610621", "延长县"),
    ("610622", "延川县"),
    ("610625", "志丹县"),
    ("610626", "吴起县"),
    ("610627", "甘泉县"),
    ("610628", "富县"),
    ("610629", "洛川县"),
    ("610630", "宜川县"),
    ("610631", "黄龙县"),
    ("610632", "黄陵县"),
    ("610681", "子长市"),
];

impl FromStr for CountyCode {
    type Err = CountyCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for CountyCode {
    type Error = CountyCodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<CountyCode> for String {
    fn from(c: CountyCode) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for CountyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountyCode({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_yanan_county_codes() {
        for (code, _) in YANAN_COUNTIES {
            assert_eq!(CountyCode::parse(code).unwrap().as_str(), code);
        }
        assert_eq!(
            CountyCode::parse("610602").unwrap().yanan_name(),
            Some("宝塔区")
        );
    }

    #[test]
    fn rejects_codes_that_are_not_six_digits() {
        for bad in ["", "61060", "6106021", "61060a", " 610602", "６１０６０２"] {
            assert!(
                matches!(
                    CountyCode::parse(bad),
                    Err(CountyCodeError::NotSixDigits(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rejects_unknown_province_prefix() {
        assert!(matches!(
            CountyCode::parse("990101"),
            Err(CountyCodeError::UnknownProvince(..))
        ));
        assert!(matches!(
            CountyCode::parse("000001"),
            Err(CountyCodeError::UnknownProvince(..))
        ));
    }

    #[test]
    fn rejects_province_and_prefecture_level_codes() {
        assert!(matches!(
            CountyCode::parse("610600"),
            Err(CountyCodeError::NotCountyLevel(_))
        ));
        assert!(matches!(
            CountyCode::parse("610000"),
            Err(CountyCodeError::NotCountyLevel(_))
        ));
    }

    #[test]
    fn round_trips_through_serde_as_a_string() {
        let code: CountyCode = serde_json::from_str("\"610621\"").unwrap();
        assert_eq!(serde_json::to_string(&code).unwrap(), "\"610621\"");
        assert!(serde_json::from_str::<CountyCode>("\"61062\"").is_err());
    }
}
