# Writes a release repository with python-tuf's Metadata API (not with autodev's publisher):
# root, targets, snapshot and timestamp, one Ed25519 key each, consistent snapshots, and one
# artifact as the target "autodev/<version>/<platform>/<file name>" with the facts autodev's
# publisher keeps in the target's "custom" member. Hashes: SHA-256 and SHA-512.
#
# Usage: python_tuf_release.py DIR ARTIFACT VERSION PLATFORM [--alter]
# DIR/metadata/1.root.json is the root to trust; the target file is stored as
# DIR/targets/autodev/<version>/<platform>/<sha256>.<file name>. With --alter, one byte of the
# stored target file is changed after everything was signed. Prints the target path.
import os, shutil, sys
from datetime import datetime, timedelta, timezone
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp

directory, artifact, version, platform = sys.argv[1:5]
alter = "--alter" in sys.argv[5:]
metadata = os.path.join(directory, "metadata")
os.makedirs(metadata)
expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=7)
signers = {role: CryptoSigner.generate_ed25519() for role in ("root", "targets", "snapshot", "timestamp")}

root = Metadata(Root(expires=expires, consistent_snapshot=True))
for role, signer in signers.items():
    root.signed.add_key(signer.public_key, role)
root.sign(signers["root"])
root.to_file(os.path.join(metadata, "1.root.json"))

name = os.path.basename(artifact)
path = f"autodev/{version}/{platform}/{name}"
target = TargetFile.from_file(path, artifact, ["sha256", "sha512"])
target.unrecognized_fields["custom"] = {
    "version": version, "platform": platform, "released": "2026-11-22T12:00:00Z", "critical": True,
    "min_version": "0.1.0", "rollout": 100, "notes": "Made with python-tuf.",
}
targets = Metadata(Targets(expires=expires))
targets.signed.targets[path] = target
targets.sign(signers["targets"])
targets.to_file(os.path.join(metadata, "1.targets.json"))

snapshot = Metadata(Snapshot(expires=expires))
snapshot.signed.meta["targets.json"] = MetaFile(version=1)
snapshot.sign(signers["snapshot"])
snapshot.to_file(os.path.join(metadata, "1.snapshot.json"))

timestamp = Metadata(Timestamp(expires=expires))
timestamp.signed.snapshot_meta = MetaFile(version=1)
timestamp.sign(signers["timestamp"])
timestamp.to_file(os.path.join(metadata, "timestamp.json"))

stored = os.path.join(directory, "targets", "autodev", version, platform, f"{target.hashes['sha256']}.{name}")
os.makedirs(os.path.dirname(stored))
shutil.copyfile(artifact, stored)
if alter:
    with open(stored, "r+b") as f:
        first = f.read(1)
        f.seek(0)
        f.write(bytes([first[0] ^ 0x01]))
print(path)
