"""The peer side of `tierd bench decode`: transcribes WAV files with faster-whisper (CTranslate2) on a
CTranslate2 model directory, and prints one JSON line per file with its text and decode time, then the
process's peak RSS.

usage: faster_whisper_decode.py MODEL_DIR COMPUTE_TYPE BEAM THREADS WAV...
"""
import json
import sys
import time

from faster_whisper import WhisperModel

model_dir, compute_type, beam, threads, *wavs = sys.argv[1:]
model = WhisperModel(model_dir, device="cpu", compute_type=compute_type, cpu_threads=int(threads), num_workers=1)
for wav in wavs:
    started = time.perf_counter()
    segments, _info = model.transcribe(wav, beam_size=int(beam), language="en", condition_on_previous_text=False, vad_filter=False)
    text = " ".join(s.text.strip() for s in segments)  # the generator decodes as it is consumed
    print(json.dumps({"file": wav, "text": text, "seconds": time.perf_counter() - started}), flush=True)
# VmHWM, not getrusage: Linux carries ru_maxrss across fork+exec, so it would report the parent's peak.
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"peak_rss_kb": peak}), flush=True)
