"""Builds the one cloud-init payload of a VM from the experimenter's user data and SSH keys."""

from __future__ import annotations

import base64
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import yaml
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

# Nova refuses a base64-encoded user_data longer than 65535 bytes.
NOVA_USER_DATA_LIMIT = 65535


class UserDataError(ValueError):
    """User data or an SSH key that cannot become a cloud-init payload."""


def check_ssh_key(key: str) -> str:
    """The key, stripped, if it is one OpenSSH public key line; else raise UserDataError."""
    stripped = key.strip()
    if not stripped or "\n" in stripped:
        raise UserDataError("must be one OpenSSH public key line")
    parts = stripped.split()
    try:
        load_ssh_public_key(" ".join(parts[:2]).encode())
    except (ValueError, IndexError, TypeError) as exc:
        raise UserDataError(f"is not a valid OpenSSH public key ({exc})") from None
    except Exception as exc:  # cryptography raises UnsupportedAlgorithm for unknown types
        raise UserDataError(f"is not a supported OpenSSH public key ({exc})") from None
    return stripped


def build_payload(userdata: str | None, ssh_keys: list[str]) -> str | None:
    """The cloud-init text for Nova, or None when there is nothing to pass.

    `#cloud-config` user data gets the keys merged into `ssh_authorized_keys`; any other
    user data (a shell script, a MIME archive) travels as its own part of a multipart
    archive next to a cloud-config part holding the keys.
    """
    text = userdata or ""
    if "\x00" in text:
        raise UserDataError("contains a NUL character")
    if not ssh_keys:
        payload = text or None
    elif not text.strip() or text.lstrip().startswith("#cloud-config"):
        payload = _merge_cloud_config(text, ssh_keys)
    else:
        payload = _multipart(text, ssh_keys)
    if payload is not None and len(base64.b64encode(payload.encode())) > NOVA_USER_DATA_LIMIT:
        size = len(base64.b64encode(payload.encode()))
        raise UserDataError(
            f"the cloud-init payload is {size} bytes once base64-encoded; "
            f"Nova accepts at most {NOVA_USER_DATA_LIMIT}"
        )
    return payload


def _merge_cloud_config(text: str, ssh_keys: list[str]) -> str:
    try:
        document = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise UserDataError(f"is not valid #cloud-config YAML ({exc})") from None
    except (ValueError, TypeError, RecursionError) as exc:
        # PyYAML raises these for impossible dates, bad explicit tags and deep nesting.
        raise UserDataError(f"is not usable #cloud-config YAML ({type(exc).__name__})") from None
    document = document or {}
    if not isinstance(document, dict):
        raise UserDataError("#cloud-config user data must be a YAML mapping")
    existing = document.get("ssh_authorized_keys") or []
    if not isinstance(existing, list):
        raise UserDataError("ssh_authorized_keys in the user data must be a list")
    document["ssh_authorized_keys"] = existing + [k for k in ssh_keys if k not in existing]
    return "#cloud-config\n" + yaml.safe_dump(document, sort_keys=False, width=1 << 16)


def _multipart(text: str, ssh_keys: list[str]) -> str:
    archive = MIMEMultipart()
    keys = "#cloud-config\n" + yaml.safe_dump(
        {"ssh_authorized_keys": ssh_keys}, sort_keys=False, width=1 << 16
    )
    archive.attach(MIMEText(keys, "cloud-config", "utf-8"))
    subtype = "x-shellscript" if text.startswith("#!") else "x-not-multipart"
    archive.attach(MIMEText(text, subtype, "utf-8"))
    return archive.as_string()
