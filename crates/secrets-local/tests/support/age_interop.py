"""age files written and read by Python's `pyrage`, for the Rust interoperability test.

  age_interop.py encrypt RECIPIENT OUT    stdin (a YAML document) -> armored age file OUT
  age_interop.py decrypt IDENTITY IN     the decrypted document, as JSON, on stdout
"""

import json
import sys

import pyrage
import yaml


def identity(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("AGE-SECRET-KEY-"):
                return pyrage.x25519.Identity.from_str(line.strip())
    raise SystemExit(f"no identity in {path}")


def main():
    command, key, path = sys.argv[1:4]
    if command == "encrypt":
        recipient = pyrage.x25519.Recipient.from_str(key)
        data = sys.stdin.read().encode("utf-8")
        with open(path, "wb") as f:
            f.write(pyrage.encrypt(data, [recipient], armored=True))
    elif command == "decrypt":
        with open(path, "rb") as f:
            plain = pyrage.decrypt(f.read(), [identity(key)])
        print(json.dumps(yaml.safe_load(plain.decode("utf-8")), sort_keys=True))
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
