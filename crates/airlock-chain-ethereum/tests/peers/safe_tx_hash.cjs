// Computes safeTxHash with Safe's own SDK (@safe-global/protocol-kit), offline.
// Usage: node safe_tx_hash.cjs <protocol-kit dir>  (reads JSON lines on stdin:
//   {"safe","version","chainId","tx":{to,value,data,operation,safeTxGas,baseGas,gasPrice,gasToken,refundReceiver,nonce}}
// and prints one hash per line).
const { calculateSafeTransactionHash } = require(process.argv[2]);
const lines = require('fs').readFileSync(0, 'utf8').split('\n').filter((l) => l.trim());
for (const line of lines) {
  const c = JSON.parse(line);
  console.log(calculateSafeTransactionHash(c.safe, c.tx, c.version, BigInt(c.chainId)));
}
