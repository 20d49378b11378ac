#!/usr/bin/env bash
# Airlock demo: the core flow end to end, on one machine, with each device in its own directory.
#
#   coordinator (online)      signers (offline): alice (ops), bob (ops), carol (compliance)
#
# 1. every device creates its identity; 2. the coordinator drafts a vault, every signer reviews and
# signs it, the coordinator activates it and every signer registers it; 3. a routine payment
# (1 of ops) is proposed, approved and finalized; 4. a large payment (2 of ops + 1 of compliance)
# is approved by alice and bob and rejected by carol (3b: a crossing with signed transfer manifests), so it is rejected; 5. bob's key is rotated out
# (vault v2, approved by a threshold of v1 and of v2); 6. the log is verified, a tampered approval
# is refused. Chain "none" records decisions only. 7. the same flow moves real funds: a 2-of-3 Safe
# on a local Ethereum node (anvil, installed from npm into target/peers), a payment executed on
# chain and checked there. 8. Monero cold signing on a regtest monerod (Debian package monero):
# an offline wallet, its view-only vault, the key-image sync across the gap, a payment signed
# offline, broadcast and confirmed.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-eth-peers.sh --node
scripts/install-monero.sh
ANVIL="$PWD/target/peers/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
echo "== building (cargo build --bins) =="
cargo build --quiet --bins
BIN="$PWD/target/debug"
AIRLOCK="$BIN/airlock"
SIGNER="$BIN/airlock-signer"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/airlock-demo.XXXXXX")
ANVIL_PID=
MONEROD_PID=
trap '[ -n "$ANVIL_PID" ] && kill "$ANVIL_PID" 2>/dev/null; [ -n "$MONEROD_PID" ] && kill "$MONEROD_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
cd "$WORK"
mkdir usb   # the "USB stick" that carries files across the gap
say() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }

say "1. devices create their identities"
"$AIRLOCK" --home coordinator init --origin demo.airlock/log
for who in alice bob carol dave; do
  printf 'correct horse battery staple %s\n' "$who" > "$who.pass"   # stands in for a typed passphrase
  "$SIGNER" --home "$who" --passphrase-file "$who.pass" init --name "$who" >/dev/null
done
key() { "$SIGNER" --home "$1" --json id | sed -n 's/.*"identity": "\([0-9a-f]*\)".*/\1/p'; }
ALICE=$(key alice); BOB=$(key bob); CAROL=$(key carol); DAVE=$(key dave)
echo "alice $ALICE"; echo "bob   $BOB"; echo "carol $CAROL"

say "2. the coordinator drafts vault 'treasury'; each signer reviews and signs it"
"$AIRLOCK" --home coordinator vault draft --vault treasury \
  --signer "alice:ops:$ALICE" --signer "bob:ops:$BOB" --signer "carol:compliance:$CAROL" \
  --threshold 2 \
  --rule "routine: max=1000, to=acme-payroll|acme-rent, expiry=2h => 1 ops" \
  --rule "large: => 2 ops, 1 compliance" \
  --out usb/treasury-v1.draft
for who in alice bob carol; do
  "$SIGNER" --home "$who" --passphrase-file "$who.pass" vault sign usb/treasury-v1.draft --out "usb/treasury-v1.$who" --yes | tail -n 1
done
"$AIRLOCK" --home coordinator vault submit usb/treasury-v1.alice usb/treasury-v1.bob usb/treasury-v1.carol
"$AIRLOCK" --home coordinator vault show treasury --out usb/treasury-v1.airlock >/dev/null
for who in alice bob carol; do "$SIGNER" --home "$who" vault register usb/treasury-v1.airlock | sed -n 1p; done

say "3. a routine payment: 1 of ops is enough"
"$AIRLOCK" --home coordinator propose --vault treasury --to acme-rent:900 --memo "November rent" --out usb/rent.bundle
echo "-- alice's screen --"
"$SIGNER" --home alice --passphrase-file alice.pass approve usb/rent.bundle --out usb/rent.alice --yes
"$AIRLOCK" --home coordinator submit usb/rent.alice
RENT=$("$AIRLOCK" --home coordinator --json status --vault treasury | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["proposal"])')
"$AIRLOCK" --home coordinator finalize "$RENT"

say "3b. the same kind of crossing with signed transfer manifests (the stick is allowlisted on both sides)"
"$AIRLOCK" --home coordinator transfer allow-dir usb
"$SIGNER" --home alice transfer allow-dir usb
"$AIRLOCK" --home coordinator propose --vault treasury --to acme-payroll:700 --memo "payroll" --out payroll.bundle >/dev/null
json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)[\"$1\"])"; }
OUT=$("$AIRLOCK" --home coordinator --json transfer out payroll.bundle --to usb --purpose "payroll proposal for alice" | json_field dir)
echo "coordinator wrote $OUT (manifest signed by the coordinator)"
INBOX=$("$SIGNER" --home alice --json transfer in "$OUT" | json_field inbox)
"$SIGNER" --home alice --passphrase-file alice.pass approve "$INBOX/payroll.bundle" --out payroll.alice --yes >/dev/null
BACK=$("$SIGNER" --home alice --passphrase-file alice.pass --json transfer out payroll.alice --to usb --purpose "alice's approval of payroll" | json_field dir)
"$AIRLOCK" --home coordinator transfer in "$BACK"
"$SIGNER" --home alice transfer log

say "4. a large payment: alice and bob approve, carol (compliance) rejects"
"$AIRLOCK" --home coordinator propose --vault treasury --to unknown-exchange:250000 --memo "move to exchange" --out usb/big.bundle
"$SIGNER" --home alice --passphrase-file alice.pass approve usb/big.bundle --out usb/big.alice --yes >/dev/null
"$SIGNER" --home bob --passphrase-file bob.pass approve usb/big.bundle --out usb/big.bob --yes >/dev/null
echo "-- carol's screen --"
"$SIGNER" --home carol --passphrase-file carol.pass reject usb/big.bundle --reason "destination not on the approved list" --out usb/big.carol
"$AIRLOCK" --home coordinator submit usb/big.alice usb/big.bob usb/big.carol
"$AIRLOCK" --home coordinator status

say "5. rotation: bob's key is replaced by dave's (v2 needs 2 of v1 and 2 of v2)"
"$AIRLOCK" --home coordinator vault draft --vault treasury --remove-signer bob --add-signer "dave:ops:$DAVE" --out usb/treasury-v2.draft
"$SIGNER" --home alice --passphrase-file alice.pass vault sign usb/treasury-v2.draft --out usb/treasury-v2.alice --yes | tail -n 1
"$SIGNER" --home carol --passphrase-file carol.pass vault sign usb/treasury-v2.draft --out usb/treasury-v2.carol --yes | tail -n 1
"$SIGNER" --home dave --passphrase-file dave.pass vault sign usb/treasury-v2.draft --out usb/treasury-v2.dave --yes | tail -n 1
"$AIRLOCK" --home coordinator vault submit usb/treasury-v2.alice usb/treasury-v2.carol usb/treasury-v2.dave
"$AIRLOCK" --home coordinator vault show treasury --out usb/treasury-v2.airlock >/dev/null
for who in alice carol dave; do "$SIGNER" --home "$who" vault register usb/treasury-v2.airlock | sed -n 1p; done

say "6. the log re-checks every transition; tampering is refused"
"$AIRLOCK" --home coordinator log verify
"$AIRLOCK" --home coordinator log checkpoint
"$SIGNER" --home alice journal verify
cp usb/big.bob usb/tampered
printf '\x01' | dd of=usb/tampered bs=1 seek=200 conv=notrunc status=none
if "$AIRLOCK" --home coordinator submit usb/tampered; then echo "tampered file accepted?!"; exit 1; fi
echo "-- inspect of alice's approval --"
"$AIRLOCK" --home coordinator inspect usb/rent.alice | sed -n 1,12p

say "7. a 2-of-3 Safe on a local Ethereum node (anvil on a free loopback port)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
MNEMONIC="test test test test test test test test test test test junk"   # anvil's development accounts
"$ANVIL" --host 127.0.0.1 --port "$PORT" --chain-id 31337 --mnemonic "$MNEMONIC" >/dev/null 2>&1 &
ANVIL_PID=$!
RPC="http://127.0.0.1:$PORT"
rpc() { python3 - "$RPC" "$@" <<'PY'
import json, sys, time, urllib.request
url, method, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
for _ in range(100):
    try:
        req = urllib.request.Request(url, json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode(), {"Content-Type": "application/json"})
        print(json.load(urllib.request.urlopen(req, timeout=2)).get("result")); break
    except OSError:
        time.sleep(0.1)
PY
}
rpc eth_chainId '[]' >/dev/null   # waits until the node answers
echo "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80" > relayer.hex   # anvil account 0: pays gas only
"$AIRLOCK" --home coordinator chain ethereum --rpc "$RPC" --relayer-key-file relayer.hex
echo "$MNEMONIC" > words.txt   # on a real signer: its own mnemonic, kept offline
addr() { "$SIGNER" --home "$1" --passphrase-file "$1.pass" --json key add --chain ethereum --mnemonic-file words.txt --index "$2" | json_field chain_key; }
A=$(addr alice 1); C=$(addr carol 3); D=$(addr dave 4)
echo "alice $A"; echo "carol $C"; echo "dave  $D"
"$AIRLOCK" --home coordinator eth deploy-safe-contracts --out safe-contracts.json >/dev/null
ACCOUNT=$("$AIRLOCK" --home coordinator --json eth create-safe --deployment safe-contracts.json \
  --owner "$A" --owner "$C" --owner "$D" --threshold 2 | json_field account)
SAFE=$(echo "$ACCOUNT" | sed 's/^safe:\([^ ]*\).*/\1/')
rpc anvil_setBalance "[\"$SAFE\", \"0x8ac7230489e80000\"]" >/dev/null   # 10 ETH into the Safe
echo "vault account: $ACCOUNT"
"$AIRLOCK" --home coordinator vault draft --vault dao --chain ethereum --network anvil --account "$ACCOUNT" \
  --signer "alice:ops:$ALICE:$A" --signer "carol:ops:$CAROL:$C" --signer "dave:ops:$DAVE:$D" \
  --threshold 2 --rule "all: => 2 ops" --out usb/dao-v1.draft
for who in alice carol dave; do
  "$SIGNER" --home "$who" --passphrase-file "$who.pass" vault sign usb/dao-v1.draft --out "usb/dao-v1.$who" --yes | tail -n 1
done
"$AIRLOCK" --home coordinator vault submit usb/dao-v1.alice usb/dao-v1.carol usb/dao-v1.dave
"$AIRLOCK" --home coordinator vault show dao --out usb/dao-v1.airlock >/dev/null
for who in alice carol dave; do "$SIGNER" --home "$who" vault register usb/dao-v1.airlock | sed -n 1p; done
"$AIRLOCK" --home coordinator propose --vault dao --to 0x00000000000000000000000000000000000A11cE:1500000000000000000 \
  --memo "grant payout" --out usb/grant.bundle
echo "-- alice's screen (compare the safeTxHash with carol's device) --"
"$SIGNER" --home alice --passphrase-file alice.pass approve usb/grant.bundle --out usb/grant.alice --yes
"$SIGNER" --home carol --passphrase-file carol.pass approve usb/grant.bundle --out usb/grant.carol --yes >/dev/null
"$AIRLOCK" --home coordinator submit usb/grant.alice usb/grant.carol
GRANT=$("$AIRLOCK" --home coordinator --json status --vault dao | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["proposal"])')
"$AIRLOCK" --home coordinator finalize "$GRANT"
"$AIRLOCK" --home coordinator broadcast "$GRANT"
"$AIRLOCK" --home coordinator confirm "$GRANT"
echo "recipient balance on chain: $(( $(rpc eth_getBalance '["0x00000000000000000000000000000000000A11cE", "latest"]') )) wei"
"$AIRLOCK" --home coordinator eth status --vault dao

say "8. Monero cold signing against a regtest monerod (free loopback ports)"
XPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
P2P=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
monerod --regtest --offline --fixed-difficulty 1 --non-interactive --no-igd --no-zmq --log-level 0 \
  --data-dir monerod --rpc-bind-ip 127.0.0.1 --rpc-bind-port "$XPORT" \
  --p2p-bind-ip 127.0.0.1 --p2p-bind-port "$P2P" >/dev/null 2>&1 &
MONEROD_PID=$!
DAEMON="http://127.0.0.1:$XPORT"
xrpc() { python3 - "$DAEMON" "$@" <<'PY'
import json, sys, time, urllib.request
url, method, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
for _ in range(600):
    try:
        req = urllib.request.Request(url + "/json_rpc", json.dumps({"jsonrpc": "2.0", "id": "0", "method": method, "params": params}).encode(), {"Content-Type": "application/json"})
        print(json.dumps(json.load(urllib.request.urlopen(req, timeout=60)).get("result"))); break
    except OSError:
        time.sleep(0.2)
PY
}
xrpc get_info '{}' >/dev/null   # waits until monerod answers
echo "-- alice's offline device: a new wallet, its view-only facts as a signed artifact --"
XMR_ADDRESS=$("$SIGNER" --home alice --passphrase-file alice.pass --json xmr new --network regtest \
  --words-out alice-xmr.words | json_field primary_address)   # seed words only in the 0600 file
echo "alice's Monero wallet: $XMR_ADDRESS"
"$SIGNER" --home alice --passphrase-file alice.pass xmr export-view --out usb/view.json --artifact usb/view.airlock
"$AIRLOCK" --home coordinator chain monero --daemon "$DAEMON"
XMR_ACCOUNT=$("$AIRLOCK" --home coordinator xmr vault-account --view-file usb/view.airlock)
"$AIRLOCK" --home coordinator vault draft --vault cold --chain monero --network regtest --account "$XMR_ACCOUNT" \
  --signer "alice:ops:$ALICE:$XMR_ADDRESS" --signer "carol:compliance:$CAROL" \
  --threshold 2 --rule "all: => 1 ops, 1 compliance" --out usb/cold-v1.draft
for who in alice carol; do
  "$SIGNER" --home "$who" --passphrase-file "$who.pass" vault sign usb/cold-v1.draft --out "usb/cold-v1.$who" --yes | tail -n 1
done
"$AIRLOCK" --home coordinator vault submit usb/cold-v1.alice usb/cold-v1.carol
"$AIRLOCK" --home coordinator vault show cold --out usb/cold-v1.airlock >/dev/null
for who in alice carol; do "$SIGNER" --home "$who" vault register usb/cold-v1.airlock | sed -n 1p; done
echo "-- mining 300 blocks to the vault, 60 elsewhere (decoys, unlock) --"
ELSEWHERE=$("$SIGNER" --home dave --passphrase-file dave.pass --json xmr new --network regtest --words-out dave-xmr.words | json_field primary_address)
xrpc generateblocks "{\"amount_of_blocks\": 300, \"wallet_address\": \"$XMR_ADDRESS\"}" >/dev/null
xrpc generateblocks "{\"amount_of_blocks\": 60, \"wallet_address\": \"$ELSEWHERE\"}" >/dev/null
"$AIRLOCK" --home coordinator xmr sync --vault cold
echo "-- the key-image sync across the gap: outputs out, signed key images back --"
"$AIRLOCK" --home coordinator xmr export-outputs --vault cold --out usb/outputs.bin
"$SIGNER" --home alice --passphrase-file alice.pass xmr sign-key-images usb/outputs.bin --vault cold --out usb/key-images.bin
"$AIRLOCK" --home coordinator xmr import-key-images --vault cold usb/key-images.bin
"$AIRLOCK" --home coordinator propose --vault cold --to "$ELSEWHERE:1500000000000" --memo "1.5 XMR to dave" --out usb/xmr.bundle
echo "-- alice's screen: the transaction recomputed from her own keys --"
"$SIGNER" --home alice --passphrase-file alice.pass approve usb/xmr.bundle --out usb/xmr.alice --yes
"$SIGNER" --home carol --passphrase-file carol.pass approve usb/xmr.bundle --out usb/xmr.carol --yes >/dev/null
"$AIRLOCK" --home coordinator submit usb/xmr.alice usb/xmr.carol
PAYMENT=$("$AIRLOCK" --home coordinator --json status --vault cold | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["proposal"])')
"$AIRLOCK" --home coordinator finalize "$PAYMENT"
"$AIRLOCK" --home coordinator broadcast "$PAYMENT"
xrpc generateblocks "{\"amount_of_blocks\": 1, \"wallet_address\": \"$ELSEWHERE\"}" >/dev/null
"$AIRLOCK" --home coordinator confirm "$PAYMENT"
"$AIRLOCK" --home coordinator xmr sync --vault cold
"$AIRLOCK" --home coordinator log verify | tail -n 1

say "demo finished"
