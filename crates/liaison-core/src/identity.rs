//! Resident identity numbers (居民身份号码, GB 11643): the key by which two counties agree on a person.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Date, Month};

/// An 18-character resident identity number whose check character, birth date and province are valid.
///
/// `Debug` masks the birth date and sequence digits so that a stray `{:?}` in a log does not leak it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdentityNumber {
    /// ASCII digits, the last one possibly `X`; a lowercase `x` is stored as `X`.
    text: [u8; 18],
    birth_date: Date,
}

/// Why a text is not a valid resident identity number.
///
/// Messages name the faulty part only, never the whole number, because they may end up in logs and
/// in rejection reasons.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityNumberError {
    #[error("an identity number has 18 characters, this one has {0}")]
    WrongLength(usize),
    #[error(
        "character {position} is {found:?}, but characters 1-17 of an identity number must be digits"
    )]
    NotDigit { position: usize, found: char },
    #[error("the check character (18th) is {0:?}, but it must be a digit or X")]
    BadCheckCharacter(char),
    #[error("region code starts with {0:?}, which is not a province-level code of GB/T 2260")]
    UnknownProvince(String),
    #[error("birth date {0} (characters 7-14) is not a calendar date")]
    BadBirthDate(String),
    #[error("check character is {found} but digits 1-17 require {expected}")]
    CheckMismatch { found: char, expected: char },
}

/// Weights of ISO 7064 MOD 11-2 for the 17 leading digits.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// Check character for each remainder of the weighted sum modulo 11.
const CHECK_CHARACTERS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// Province-level prefixes of GB/T 2260, as in [`crate::county`]; an identity number keeps the region
/// code of where it was first issued, which may be a prefecture (ending in 00), so only the province is
/// checked here.
const PROVINCES: [&str; 34] = [
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
    "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71",
    "81", "82",
];

/// The MOD 11-2 check character that must follow `first17`, or `None` unless it is exactly 17 ASCII digits.
pub fn check_character(first17: &str) -> Option<char> {
    let bytes = first17.as_bytes();
    if bytes.len() != 17 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = bytes
        .iter()
        .zip(WEIGHTS)
        .map(|(digit, weight)| u32::from(digit - b'0') * weight)
        .sum();
    Some(CHECK_CHARACTERS[(sum % 11) as usize])
}

impl IdentityNumber {
    /// Parses and checks an identity number; a lowercase check character `x` is accepted as `X`.
    pub fn parse(text: &str) -> Result<Self, IdentityNumberError> {
        let count = text.chars().count();
        if count != 18 {
            return Err(IdentityNumberError::WrongLength(count));
        }
        // Eighteen characters; the byte length differs only if one of them is not ASCII.
        if let Some((index, found)) = text
            .chars()
            .take(17)
            .enumerate()
            .find(|(_, c)| !c.is_ascii_digit())
        {
            return Err(IdentityNumberError::NotDigit {
                position: index + 1,
                found,
            });
        }
        let found = match text.chars().nth(17) {
            Some(c) if c.is_ascii_digit() => c,
            Some('X' | 'x') => 'X',
            Some(other) => return Err(IdentityNumberError::BadCheckCharacter(other)),
            None => return Err(IdentityNumberError::WrongLength(count)),
        };
        // From here on the first 17 characters are ASCII digits, so byte slicing is on char boundaries.
        let first17 = &text[..17];
        if !PROVINCES.contains(&&first17[..2]) {
            return Err(IdentityNumberError::UnknownProvince(
                first17[..2].to_owned(),
            ));
        }
        let birth_date = parse_compact_date(&first17[6..14])
            .ok_or_else(|| IdentityNumberError::BadBirthDate(first17[6..14].to_owned()))?;
        let expected = check_character(first17).ok_or(IdentityNumberError::WrongLength(count))?;
        if found != expected {
            return Err(IdentityNumberError::CheckMismatch { found, expected });
        }
        let mut stored = [0u8; 18];
        stored[..17].copy_from_slice(first17.as_bytes());
        stored[17] = found as u8;
        Ok(Self {
            text: stored,
            birth_date,
        })
    }

    /// The number as text, with an uppercase `X` if that is its check character.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and `X` are ever stored.
        std::str::from_utf8(&self.text).unwrap_or("??????????????????")
    }

    /// The holder's birth date, taken from characters 7-14.
    pub fn birth_date(&self) -> Date {
        self.birth_date
    }
}

/// Reads `YYYYMMDD`; the caller has already checked that it is eight ASCII digits.
fn parse_compact_date(digits: &str) -> Option<Date> {
    let year: i32 = digits.get(..4)?.parse().ok()?;
    let month: u8 = digits.get(4..6)?.parse().ok()?;
    let day: u8 = digits.get(6..8)?.parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

impl FromStr for IdentityNumber {
    type Err = IdentityNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for IdentityNumber {
    type Error = IdentityNumberError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<IdentityNumber> for String {
    fn from(id: IdentityNumber) -> String {
        id.as_str().to_owned()
    }
}

impl fmt::Display for IdentityNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for IdentityNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.as_str();
        write!(f, "IdentityNumber({}********{})", &text[..6], &text[14..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    /// Valid numbers: the GB 11643 example and Yan'an numbers used in deploy/examples/notices.
    const VALID: [&str; 6] = [
        "11010519491231002X",
        "610602199203154529",
        "61060319881120451X",
        "61062119950708002X",
        "610626199001014529",
        "610625198706124516",
    ];

    fn check(input: &str, expected: Result<&str, IdentityNumberError>) {
        assert_eq!(
            IdentityNumber::parse(input).map(|id| id.as_str().to_owned()),
            expected.map(str::to_owned),
            "{input:?}"
        );
    }

    #[test]
    fn accepts_numbers_whose_check_character_matches() {
        for id in VALID {
            check(id, Ok(id));
            assert_eq!(check_character(&id[..17]), id.chars().last());
        }
    }

    #[test]
    fn computes_the_standard_example_check_character() {
        assert_eq!(check_character("11010519491231002"), Some('X'));
        assert_eq!(check_character("1101051949123100"), None);
        assert_eq!(check_character("1101051949123100a"), None);
    }

    #[test]
    fn lowercase_x_is_accepted_and_normalised() {
        check("11010519491231002x", Ok("11010519491231002X"));
    }

    #[test]
    fn reads_the_birth_date() {
        assert_eq!(
            IdentityNumber::parse("11010519491231002X")
                .unwrap()
                .birth_date(),
            date!(1949 - 12 - 31)
        );
        assert_eq!(
            IdentityNumber::parse("610602199203154529")
                .unwrap()
                .birth_date(),
            date!(1992 - 03 - 15)
        );
    }

    #[test]
    fn refuses_a_wrong_check_character_and_says_which_is_required() {
        let err = IdentityNumber::parse("110105194912310025").unwrap_err();
        assert_eq!(
            err,
            IdentityNumberError::CheckMismatch {
                found: '5',
                expected: 'X'
            }
        );
        assert_eq!(
            err.to_string(),
            "check character is 5 but digits 1-17 require X"
        );
    }

    #[test]
    fn refuses_wrong_length() {
        check("", Err(IdentityNumberError::WrongLength(0)));
        check(
            "11010519491231002",
            Err(IdentityNumberError::WrongLength(17)),
        );
        check(
            "11010519491231002X0",
            Err(IdentityNumberError::WrongLength(19)),
        );
        // Counted in characters, not bytes: 18 full-width digits are 18 characters and are not digits.
        check(
            "１１０１０５１９４９１２３１００２Ｘ",
            Err(IdentityNumberError::NotDigit {
                position: 1,
                found: '１',
            }),
        );
    }

    #[test]
    fn refuses_non_digits() {
        check(
            "1101051949123100AX",
            Err(IdentityNumberError::NotDigit {
                position: 17,
                found: 'A',
            }),
        );
        check(
            " 1010519491231002X",
            Err(IdentityNumberError::NotDigit {
                position: 1,
                found: ' ',
            }),
        );
        check(
            "11010519491231002Y",
            Err(IdentityNumberError::BadCheckCharacter('Y')),
        );
    }

    #[test]
    fn refuses_a_birth_date_that_is_not_a_calendar_date() {
        // February 30th; the check character is right for these digits, so only the date is at fault.
        let first17 = "61060219920230452";
        let id = format!("{first17}{}", check_character(first17).unwrap());
        check(
            &id,
            Err(IdentityNumberError::BadBirthDate("19920230".to_owned())),
        );
        let first17 = "61060219921301452";
        let id = format!("{first17}{}", check_character(first17).unwrap());
        check(
            &id,
            Err(IdentityNumberError::BadBirthDate("19921301".to_owned())),
        );
    }

    #[test]
    fn refuses_an_unknown_province() {
        let first17 = "99060219920315452";
        let id = format!("{first17}{}", check_character(first17).unwrap());
        check(
            &id,
            Err(IdentityNumberError::UnknownProvince("99".to_owned())),
        );
    }

    #[test]
    fn round_trips_through_serde_as_a_string() {
        let id: IdentityNumber = serde_json::from_str("\"11010519491231002x\"").unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"11010519491231002X\""
        );
        let err = serde_json::from_str::<IdentityNumber>("\"110105194912310025\"").unwrap_err();
        assert!(err.to_string().contains("require X"), "{err}");
    }

    #[test]
    fn debug_does_not_show_the_birth_date() {
        let id = IdentityNumber::parse("610602199203154529").unwrap();
        assert_eq!(format!("{id:?}"), "IdentityNumber(610602********4529)");
    }
}
