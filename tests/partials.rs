//! Partials of a real-time stream. In a test binary of its own: partials come only from spare compute,
//! and the CPU budget is shared by everything in a process, so other tests running beside it would
//! leave none (by design).

mod common;

use std::time::Duration;

use common::stream::*;
use tierd::server::Limits;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_time_stream_gets_partials_with_a_stable_prefix() {
    // Partials come only from spare compute: a server of its own keeps other tests' decodes out of its
    // pool.
    let (addr, _app) = tokio::task::spawn_blocking(|| start_server(Limits::default())).await.unwrap();
    let (pcm, refs) = joined_clips(&["sense_and_sensibility_01_austen_64kb-0870"], 1.0);
    // 20 ms frames, ten at a time every 200 ms: real time.
    let s = stream_bytes(connect(addr, "tier=fast").await, &s16le(&pcm), 640, Some(Duration::from_millis(200))).await;
    check_finals(&s, &refs, 0.15);
    let partials = s.of_type("partial");
    // Under load partials are skipped by design, so only their presence is asserted, not their count.
    assert!(!partials.is_empty(), "{:?}", s.messages);
    for p in &partials {
        let (text, stable) = (p["text"].as_str().unwrap(), p["stable"].as_str().unwrap());
        assert!(text.starts_with(stable), "{p}");
        assert_eq!(p["utterance"], 0);
    }
    // Every partial precedes the final of its utterance.
    let last_partial = s.messages.iter().rposition(|m| m["type"] == "partial").unwrap();
    let first_final = s.messages.iter().position(|m| m["type"] == "final").unwrap();
    assert!(last_partial < first_final);
}

