"""A stable per-machine id for activations, hashed with the application's
id so it is never the raw operating-system id (docs/clients.md,
"Fingerprints")."""

from __future__ import annotations

import hashlib
import platform
import re
import subprocess
from pathlib import Path
from typing import Optional

#: The same in every Licensor client library.
FINGERPRINT_DOMAIN = "licensor-fingerprint-v1"


def fingerprint_of(app_id: str, machine_id: str) -> str:
    """The fingerprint of `machine_id` for `app_id`: SHA-256 (hex) of the
    domain, the app id and the machine id, one per line."""
    if not app_id:
        raise ValueError("the application id is empty")
    text = f"{FINGERPRINT_DOMAIN}\n{app_id}\n{machine_id.strip().lower()}"
    return hashlib.sha256(text.encode()).hexdigest()


def os_machine_id() -> str:
    """The operating system's id of this machine: Linux `/etc/machine-id`
    (or D-Bus's), macOS `IOPlatformUUID`, Windows `MachineGuid`. Raises
    OSError where there is none (a container without the file, say)."""
    system = platform.system()
    found: Optional[str] = None
    if system == "Linux" or system.endswith("BSD"):
        for path in ("/etc/machine-id", "/var/lib/dbus/machine-id", "/etc/hostid"):
            try:
                text = Path(path).read_text().strip()
            except OSError:
                continue
            if text:
                found = text
                break
    elif system == "Darwin":
        out = subprocess.run(
            ["ioreg", "-rd1", "-c", "IOPlatformExpertDevice"], capture_output=True, text=True, check=False
        ).stdout
        match = re.search(r'"IOPlatformUUID"\s*=\s*"([^"]+)"', out)
        found = match.group(1) if match else None
    elif system == "Windows":
        import winreg  # type: ignore[import-not-found]

        with winreg.OpenKey(  # type: ignore[attr-defined]
            winreg.HKEY_LOCAL_MACHINE,  # type: ignore[attr-defined]
            r"SOFTWARE\Microsoft\Cryptography",
            0,
            winreg.KEY_READ | winreg.KEY_WOW64_64KEY,  # type: ignore[attr-defined]
        ) as key:
            found = str(winreg.QueryValueEx(key, "MachineGuid")[0])  # type: ignore[attr-defined]
    if not found:
        raise OSError(f"no machine id on this {system or 'unknown'} system")
    return found


def machine_fingerprint(app_id: str) -> str:
    """This machine's fingerprint for `app_id`: stable across restarts and
    upgrades, different for another application on the same machine."""
    return fingerprint_of(app_id, os_machine_id())
