/* eslint-disable */ // a raw probe kept with the figures it produced (CommonJS, plain Node)
// Helpers for matmul-probe.js: tfjs-node, random tensors, and cmp(variants): the variants run round-robin, min and median printed.
process.env.TF_CPP_MIN_LOG_LEVEL='2';
const tf = require('@tensorflow/tfjs-node');
const be = tf.backend(); const B = be.binding;
exports.tf=tf; exports.be=be; exports.B=B;
exports.R=(s)=>tf.randomNormal(s);
exports.cmp = function(variants, rounds=7){ // variants: [name, f, flops]
  const times = variants.map(()=>[]);
  for (const [,f] of variants){ tf.dispose(f()); }
  for (let r=0;r<rounds;r++) variants.forEach(([n,f],i)=>{ const t0=performance.now(); const o=f(); const x=Array.isArray(o)?o:[o]; x.forEach(y=>y.dataSync()); times[i].push(performance.now()-t0); tf.dispose(o); });
  variants.forEach(([n,,fl],i)=>{ const s=[...times[i]].sort((a,b)=>a-b); const mn=s[0], md=s[s.length>>1];
    console.log(n.padEnd(44), `min ${mn.toFixed(2)} med ${md.toFixed(2)} ms`, fl? `${(fl/mn/1e6).toFixed(0)} GFLOP/s (min)`:''); });
};
