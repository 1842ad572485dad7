#!/usr/bin/env python3
"""Writes the contract's OpenAPI document as JSON: openapi_to_json.py IN.yaml OUT.json

Keys keep the YAML document's order, so the JSON reads like the YAML.
The output ends with a newline and is byte-for-byte reproducible.
"""
import json
import sys

import yaml


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: openapi_to_json.py IN.yaml OUT.json")
    with open(sys.argv[1], encoding="utf-8") as f:
        document = yaml.safe_load(f)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
