//! The `/v1/listen` wire protocol: server → client JSON messages, client control messages and close
//! codes. `docs/protocol.md` documents the same for client authors.

use serde::{Deserialize, Serialize};

use crate::engine::Word;

/// WebSocket close codes tierd uses.
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const UNSUPPORTED_DATA: u16 = 1003;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const INTERNAL: u16 = 1011;
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TierInfo {
    pub name: String,
    pub model: String,
    pub decoding: String,
    pub beam: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Ready {
        session: String,
        tier: TierInfo,
        sample_rate: u32,
        encoding: String,
    },
    Partial {
        utterance: u64,
        text: String,
        /// The leading words two consecutive partials agreed on (LocalAgreement-2).
        stable: String,
        start: f64,
        end: f64,
    },
    Final {
        utterance: u64,
        text: String,
        start: f64,
        end: f64,
        words: Vec<Word>,
        /// From the end of speech being detected to this message being queued: decode queue + decode.
        latency_ms: f64,
        /// Time spent decoding it.
        decode_ms: f64,
        /// The configuration that decoded it.
        model: String,
        beam: u32,
    },
    Error {
        code: String,
        message: String,
    },
}

/// Client → server control messages (text frames).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ControlMessage {
    /// Finish: flush the open utterance, send its final, close with 1000.
    End,
    /// Change settings for the utterances that follow.
    Config {
        #[serde(default)]
        tier: Option<String>,
        #[serde(default)]
        language: Option<String>,
        #[serde(default)]
        prompt: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_the_documented_shape() {
        let m = ServerMessage::Error { code: "bad_control".into(), message: "x".into() };
        assert_eq!(serde_json::to_value(&m).unwrap(), serde_json::json!({"type":"error","code":"bad_control","message":"x"}));
        assert_eq!(serde_json::from_str::<ControlMessage>(r#"{"type":"end"}"#).unwrap(), ControlMessage::End);
        let c: ControlMessage = serde_json::from_str(r#"{"type":"config","tier":"fast"}"#).unwrap();
        assert_eq!(c, ControlMessage::Config { tier: Some("fast".into()), language: None, prompt: None });
        assert!(serde_json::from_str::<ControlMessage>(r#"{"type":"config","bogus":1}"#).is_err());
        assert!(serde_json::from_str::<ControlMessage>(r#"{"type":"dance"}"#).is_err());
    }
}
