// A QR signer (EIP-4527) played by independent parts: Keystone's own UR library
// (@keystonehq/bc-ur-registry-eth) reads the ur:eth-sign-request and writes the ur:eth-signature,
// and Foundry's cast hashes and signs what the request carries (EIP-712 JSON with
// `cast wallet sign --data`, an EIP-2718 transaction by keccak256 of its bytes).
// Usage: node qr_device.cjs <keystone dir> <cast> <private key hex> [--tamper-id]
//   reads the request's UR frames on stdin (one request); prints JSON:
//   {signature_ur, data_type, chain_id, address, path, xfp, request_id, key_address, sign_data}
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const [dir, cast, key, flag] = process.argv.slice(2);
const eth = require(path.join(dir, 'node_modules/@keystonehq/bc-ur-registry-eth'));

const decoder = new eth.URRegistryDecoder();
const frames = fs.readFileSync(0, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l);
for (const f of frames) decoder.receivePart(f.toLowerCase());
if (!decoder.isComplete() || !decoder.isSuccess()) {
  console.error('error: the request frames do not decode: ' + decoder.resultError());
  process.exit(2);
}
const ur = decoder.resultUR();
if (ur.type !== 'eth-sign-request') {
  console.error('error: UR type ' + ur.type);
  process.exit(2);
}
const request = eth.EthSignRequest.fromCBOR(ur.cbor);
const signData = request.getSignData();
const run = (args) => execFileSync(cast, args, { encoding: 'utf8' }).trim();
let signature;
if (request.getDataType() === eth.DataType.typedData) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'qr-device-')), 'typed.json');
  fs.writeFileSync(file, signData);
  signature = run(['wallet', 'sign', '--data', '--from-file', file, '--private-key', key]);
} else if (request.getDataType() === eth.DataType.typedTransaction) {
  const digest = run(['keccak', '0x' + signData.toString('hex')]);
  signature = run(['wallet', 'sign', '--no-hash', digest, '--private-key', key]);
} else {
  console.error('error: data type ' + request.getDataType() + ' is not handled here');
  process.exit(2);
}
let requestId = request.getRequestId();
if (flag === '--tamper-id') {
  requestId = Buffer.from(requestId);
  requestId[0] ^= 1;
}
const answer = new eth.ETHSignature(Buffer.from(signature.slice(2), 'hex'), requestId, 'qr-device peer');
const path_ = request.getDerivationPath();
console.log(JSON.stringify({
  signature_ur: answer.toUREncoder(400).nextPart().toUpperCase(),
  data_type: request.getDataType(),
  chain_id: Number(request.getChainId()),
  address: '0x' + request.getSignRequestAddress().toString('hex'),
  path: path_,
  xfp: request.getSourceFingerprint() ? request.getSourceFingerprint().toString('hex') : null,
  request_id: request.getRequestId().toString('hex'),
  key_address: run(['wallet', 'address', '--private-key', key]),
  sign_data: request.getDataType() === eth.DataType.typedData ? JSON.parse(signData.toString('utf8')) : signData.toString('hex'),
}));
