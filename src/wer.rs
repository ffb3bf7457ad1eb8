//! Word error rate, the accuracy measure of every speech test, profile and tier.
//!
//! Both sides are normalised first so that formatting is not counted as error: lower case, no
//! punctuation, hyphenated words split, numbers spelled out as words, and common spelling variants
//! mapped to one form ("mr" → "mister", "metres" → "meters").

use std::ops::AddAssign;

const ONES: [&str; 20] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen",
    "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
];
const TENS: [&str; 10] = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

/// Spelling variants and abbreviations mapped to the form references use.
const VARIANTS: &[(&str, &str)] = &[
    ("mr", "mister"),
    ("mrs", "missus"),
    ("dr", "doctor"),
    ("st", "saint"),
    ("ok", "okay"),
    ("metres", "meters"),
    ("metre", "meter"),
    ("colour", "color"),
    ("colours", "colors"),
    ("favourite", "favorite"),
    ("honour", "honor"),
    ("centre", "center"),
    ("grey", "gray"),
    ("percent", "percent"),
    ("%", "percent"),
    ("&", "and"),
];

/// Spells out a non-negative integer: 1995 → "one thousand nine hundred ninety five".
fn number_words(mut n: u64, out: &mut Vec<String>) {
    if n < 20 {
        out.push(ONES[n as usize].into());
        return;
    }
    for (scale, name) in [(1_000_000_000_000u64, "trillion"), (1_000_000_000, "billion"), (1_000_000, "million"), (1000, "thousand"), (100, "hundred")] {
        if n >= scale {
            number_words(n / scale, out);
            out.push(name.into());
            n %= scale;
            if n == 0 {
                return;
            }
        }
    }
    if n >= 20 {
        out.push(TENS[(n / 10) as usize].into());
        n %= 10;
        if n > 0 {
            out.push(ONES[n as usize].into());
        }
    } else {
        out.push(ONES[n as usize].into());
    }
}

/// Spells out a token made of digits ("10", "3.5", "1,000", "10th"); None when it is not numeric.
fn spell_number(token: &str) -> Option<Vec<String>> {
    let (digits, ordinal) = match token.strip_suffix("st").or(token.strip_suffix("nd")).or(token.strip_suffix("rd")).or(token.strip_suffix("th")) {
        Some(d) if !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()) => (d, true),
        _ => (token, false),
    };
    let cleaned: String = digits.chars().filter(|c| *c != ',').collect();
    let (int_part, frac_part) = match cleaned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (cleaned.as_str(), None),
    };
    if int_part.is_empty() || !int_part.chars().all(|c| c.is_ascii_digit()) || int_part.len() > 15 {
        return None;
    }
    let mut out = Vec::new();
    number_words(int_part.parse().ok()?, &mut out);
    if let Some(frac) = frac_part.filter(|f| !f.is_empty()) {
        if !frac.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        out.push("point".into());
        out.extend(frac.chars().map(|c| ONES[c.to_digit(10).unwrap() as usize].to_string()));
    }
    if ordinal {
        let last = out.pop().unwrap();
        let ord = match last.as_str() {
            "one" => "first".to_string(),
            "two" => "second".to_string(),
            "three" => "third".to_string(),
            "five" => "fifth".to_string(),
            "eight" => "eighth".to_string(),
            "nine" => "ninth".to_string(),
            "twelve" => "twelfth".to_string(),
            w if w.ends_with('y') => format!("{}ieth", &w[..w.len() - 1]),
            w => format!("{w}th"),
        };
        out.push(ord);
    }
    Some(out)
}

/// Normalises text to the word sequence that is scored.
pub fn normalize(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let mut words = Vec::new();
    // Split on whitespace and hyphens/dashes; keep digits with their separators for number parsing.
    for raw in lower.split(|c: char| c.is_whitespace() || matches!(c, '-' | '–' | '—' | '/')) {
        let trimmed = raw.trim_matches(|c: char| !c.is_alphanumeric() && c != '%' && c != '&');
        if trimmed.is_empty() {
            continue;
        }
        let (number, percent) = match trimmed.strip_suffix('%') {
            Some(n) => (n, true),
            None => (trimmed, false),
        };
        if let Some(spelled) = spell_number(number) {
            words.extend(spelled);
            if percent {
                words.push("percent".into());
            }
            continue;
        }
        // Remaining punctuation inside a word (apostrophes, periods in "u.s.") is dropped.
        let word: String = trimmed.chars().filter(|c| c.is_alphanumeric() || *c == '%' || *c == '&').collect();
        let word = VARIANTS.iter().find(|(from, _)| *from == word).map(|(_, to)| to.to_string()).unwrap_or(word);
        if !word.is_empty() {
            words.push(word);
        }
    }
    words
}

/// Edit counts of a hypothesis against a reference, summable over a corpus.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WerStats {
    pub substitutions: usize,
    pub deletions: usize,
    pub insertions: usize,
    pub reference_words: usize,
}

impl WerStats {
    pub fn errors(&self) -> usize {
        self.substitutions + self.deletions + self.insertions
    }

    /// Errors per reference word (0 when both sides are empty, 1 per inserted word when only the
    /// reference is empty).
    pub fn rate(&self) -> f64 {
        if self.reference_words == 0 {
            return self.insertions as f64;
        }
        self.errors() as f64 / self.reference_words as f64
    }
}

impl AddAssign for WerStats {
    fn add_assign(&mut self, o: Self) {
        self.substitutions += o.substitutions;
        self.deletions += o.deletions;
        self.insertions += o.insertions;
        self.reference_words += o.reference_words;
    }
}

/// Word-level Levenshtein alignment of normalised texts.
pub fn wer(reference: &str, hypothesis: &str) -> WerStats {
    let r = normalize(reference);
    let h = normalize(hypothesis);
    // cost[j] = (total, subs, dels, ins) to turn r[..i] into h[..j].
    let mut prev: Vec<(usize, usize, usize, usize)> = (0..=h.len()).map(|j| (j, 0, 0, j)).collect();
    for i in 1..=r.len() {
        let mut cur = vec![(i, 0, i, 0); h.len() + 1];
        for j in 1..=h.len() {
            let same = r[i - 1] == h[j - 1];
            let diag = prev[j - 1];
            let sub = if same { diag } else { (diag.0 + 1, diag.1 + 1, diag.2, diag.3) };
            let del = (prev[j].0 + 1, prev[j].1, prev[j].2 + 1, prev[j].3);
            let ins = (cur[j - 1].0 + 1, cur[j - 1].1, cur[j - 1].2, cur[j - 1].3 + 1);
            cur[j] = [sub, del, ins].into_iter().min_by_key(|c| c.0).unwrap();
        }
        prev = cur;
    }
    let (_, substitutions, deletions, insertions) = prev[h.len()];
    WerStats { substitutions, deletions, insertions, reference_words: r.len() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_is_not_an_error() {
        assert_eq!(wer("and mister john dashwood had then leisure", "And Mr. John Dashwood had then leisure.").errors(), 0);
        assert_eq!(wer("go forward ten meters", "Go forward 10 metres.").errors(), 0);
        assert_eq!(wer("to be ill disposed", "to be ill-disposed").errors(), 0);
        assert_eq!(wer("eight of spades four of clubs", "8 of spades, 4 of clubs").errors(), 0);
        assert_eq!(wer("he didnt go", "He didn't go!").errors(), 0);
    }

    #[test]
    fn counts_each_kind_of_edit() {
        let s = wer("the cat sat on the mat", "the cat sat on mat");
        assert_eq!((s.substitutions, s.deletions, s.insertions, s.reference_words), (0, 1, 0, 6));
        let s = wer("the cat sat", "the black cat sat");
        assert_eq!((s.substitutions, s.deletions, s.insertions), (0, 0, 1));
        let s = wer("unless to be rather cold hearted", "unless to be rather old hearted");
        assert_eq!((s.substitutions, s.deletions, s.insertions), (1, 0, 0));
        assert!((s.rate() - 1.0 / 6.0).abs() < 1e-12);
        assert_eq!(wer("ill disposed", "old sposed").substitutions, 2);
    }

    #[test]
    fn empty_sides() {
        assert_eq!(wer("", "").rate(), 0.0);
        assert_eq!(wer("", "you").rate(), 1.0);
        assert_eq!(wer("two words", "").rate(), 1.0);
    }

    #[test]
    fn numbers_are_spelled_out() {
        assert_eq!(normalize("1995"), ["one", "thousand", "nine", "hundred", "ninety", "five"]);
        assert_eq!(normalize("3.5 and 1,000"), ["three", "point", "five", "and", "one", "thousand"]);
        assert_eq!(normalize("the 21st and 10th"), ["the", "twenty", "first", "and", "tenth"]);
        assert_eq!(normalize("50%"), ["fifty", "percent"]);
    }

    #[test]
    fn corpus_totals_add_up() {
        let mut total = WerStats::default();
        total += wer("a b c d", "a b c d");
        total += wer("e f", "e x");
        assert_eq!((total.errors(), total.reference_words), (1, 6));
    }
}
