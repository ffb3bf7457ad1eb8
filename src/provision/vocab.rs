//! Whisper's vocabulary as whisper.cpp wants it: the regular tokens as raw bytes.
//!
//! CTranslate2 directories list tokens in GPT-2's printable byte encoding (each byte mapped to a
//! visible character, e.g. a space to `Ġ`). whisper.cpp needs the raw bytes, and only the regular
//! tokens: everything from `<|endoftext|>` on is special and whisper.cpp derives those ids itself.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// GPT-2's table from printable character back to the byte it stands for.
fn unicode_to_byte() -> HashMap<char, u8> {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32).collect();
    printable.extend(0xA1..=0xAC);
    printable.extend(0xAE..=0xFF);
    let mut map = HashMap::with_capacity(256);
    let mut extra = 0u32;
    for b in 0u32..256 {
        let ch = if printable.contains(&b) {
            b
        } else {
            extra += 1;
            255 + extra
        };
        map.insert(char::from_u32(ch).expect("valid code point"), b as u8);
    }
    map
}

/// Decodes one token from GPT-2's byte-level encoding to its bytes.
pub fn token_bytes(token: &str, table: &HashMap<char, u8>) -> Result<Vec<u8>> {
    token
        .chars()
        .map(|c| table.get(&c).copied().with_context(|| format!("token {token:?} has {c:?}, not a GPT-2 byte character")))
        .collect()
}

/// The regular tokens (those before `<|endoftext|>`) of a list of GPT-2-encoded tokens, as bytes.
pub fn regular_tokens<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Result<Vec<Vec<u8>>> {
    let table = unicode_to_byte();
    let mut out = Vec::new();
    for t in tokens {
        if t == "<|endoftext|>" {
            return Ok(out);
        }
        out.push(token_bytes(t, &table)?);
    }
    bail!("the vocabulary has no <|endoftext|> token, so it is not a Whisper vocabulary")
}

/// Reads `vocabulary.txt` (one token a line) or `vocabulary.json` (a list) from a CTranslate2 directory.
pub fn load_regular_tokens(dir: &Path) -> Result<Vec<Vec<u8>>> {
    let txt = dir.join("vocabulary.txt");
    let json = dir.join("vocabulary.json");
    if txt.exists() {
        let text = std::fs::read_to_string(&txt).with_context(|| format!("reading {}", txt.display()))?;
        regular_tokens(text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)))
    } else if json.exists() {
        let text = std::fs::read_to_string(&json).with_context(|| format!("reading {}", json.display()))?;
        let list: Vec<String> = serde_json::from_str(&text).with_context(|| format!("parsing {}", json.display()))?;
        regular_tokens(list.iter().map(String::as_str))
    } else {
        bail!("{} has neither vocabulary.txt nor vocabulary.json", dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_gpt2_byte_characters() {
        let t = unicode_to_byte();
        assert_eq!(t.len(), 256);
        assert_eq!(token_bytes("Ġthe", &t).unwrap(), b" the");
        assert_eq!(token_bytes("Ċ", &t).unwrap(), b"\n");
        assert_eq!(token_bytes("!", &t).unwrap(), b"!");
        // "é" in UTF-8 is C3 A9, which GPT-2 writes as "Ã©".
        assert_eq!(token_bytes("Ã©", &t).unwrap(), "é".as_bytes());
        assert!(token_bytes("\u{4e00}", &t).is_err());
    }

    #[test]
    fn keeps_tokens_before_end_of_text() {
        let toks = regular_tokens(["a", "Ġb", "<|endoftext|>", "<|startoftranscript|>"]).unwrap();
        assert_eq!(toks, vec![b"a".to_vec(), b" b".to_vec()]);
        assert!(regular_tokens(["a", "b"]).is_err());
    }
}
