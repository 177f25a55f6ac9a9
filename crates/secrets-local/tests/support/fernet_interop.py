"""The guide's Python side of the encrypted config format, used by fernet_interop.rs.

    fernet_interop.py write DIR   < document.json   # new key + config.enc.yaml, as the guide does
    fernet_interop.py read DIR    > document.json   # decrypt config.enc.yaml with .config.key
"""

import json
import os
import sys

import yaml
from cryptography.fernet import Fernet


def write(folder):
    document = json.load(sys.stdin)
    key = Fernet.generate_key()
    key_path = os.path.join(folder, ".config.key")
    with open(key_path, "wb") as f:
        f.write(key)
    os.chmod(key_path, 0o600)
    token = Fernet(key).encrypt(yaml.safe_dump(document).encode("utf-8"))
    with open(os.path.join(folder, "config.enc.yaml"), "wb") as f:
        f.write(token)


def read(folder):
    with open(os.path.join(folder, ".config.key"), "rb") as f:
        key = f.read().strip()
    with open(os.path.join(folder, "config.enc.yaml"), "rb") as f:
        token = f.read().strip()
    document = yaml.safe_load(Fernet(key).decrypt(token).decode("utf-8"))
    json.dump(document, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    {"write": write, "read": read}[sys.argv[1]](sys.argv[2])
