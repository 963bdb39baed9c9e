// A stable per-machine id for activations, hashed with the application's
// id so it is never the raw operating-system id (docs/clients.md).

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { platform } from "node:os";

/** The same in every Licensor client library. */
export const FINGERPRINT_DOMAIN = "licensor-fingerprint-v1";

/** SHA-256 (hex) of the domain, the app id and the machine id (lower case), one per line. */
export function fingerprintOf(appId: string, machineId: string): string {
  if (!appId) throw new Error("the application id is empty");
  return createHash("sha256")
    .update(`${FINGERPRINT_DOMAIN}\n${appId}\n${machineId.trim().toLowerCase()}`)
    .digest("hex");
}

/** The operating system's id of this machine; throws where there is none. */
export function osMachineId(): string {
  const system = platform();
  let found: string | undefined;
  if (system === "linux" || system.endsWith("bsd")) {
    for (const path of ["/etc/machine-id", "/var/lib/dbus/machine-id", "/etc/hostid"]) {
      try {
        const text = readFileSync(path, "utf8").trim();
        if (text) {
          found = text;
          break;
        }
      } catch {
        // the next one
      }
    }
  } else if (system === "darwin") {
    const out = execFileSync("ioreg", ["-rd1", "-c", "IOPlatformExpertDevice"], { encoding: "utf8" });
    found = /"IOPlatformUUID"\s*=\s*"([^"]+)"/.exec(out)?.[1];
  } else if (system === "win32") {
    const out = execFileSync(
      "reg",
      ["query", "HKLM\\SOFTWARE\\Microsoft\\Cryptography", "/v", "MachineGuid", "/reg:64"],
      { encoding: "utf8" },
    );
    found = /MachineGuid\s+REG_SZ\s+(\S+)/.exec(out)?.[1];
  }
  if (!found) throw new Error(`no machine id on this ${system} system`);
  return found;
}

/** This machine's fingerprint for `appId`. */
export function machineFingerprint(appId: string): string {
  return fingerprintOf(appId, osMachineId());
}
