"""Transcribes a file through tierd with the official OpenAI Python SDK; prints the result as JSON.

usage: openai_transcribe.py BASE_URL FILE RESPONSE_FORMAT MODEL
"""
import json
import sys

from openai import OpenAI

base_url, path, response_format, model = sys.argv[1:5]
client = OpenAI(base_url=base_url, api_key="tierd-needs-no-key")
extra = {"timestamp_granularities": ["word", "segment"]} if response_format == "verbose_json" else {}
with open(path, "rb") as f:
    result = client.audio.transcriptions.create(model=model, file=f, response_format=response_format, **extra)
if isinstance(result, str):
    print(json.dumps({"raw": result}))
else:
    print(result.model_dump_json())
