/* eslint-disable */ // raw probe (CommonJS). TF_ENABLE_ONEDNN_OPTS=1 node docs/bench/2026-12-04/smollm/elementwise-probe.js
// Per-op cost of the Llama path's non-matMul ops on native TensorFlow: each op run 200× (results disposed), one readback at the end; µs per op, min of 5 rounds.
const { tf, R } = require('../../2026-12-03/h.js');
const a1536=R([512,1536]), b1536=R([512,1536]), a576=R([512,576]), b576=R([512,576]), w576=R([576]), s=R([12,384,128]), q4=R([4,9,128,64]), cos=R([128,64]), x4=R([4,128,9,64]), r1=R([512,1]);
const tiny=R([4,128]);
const ops = [
 ['mul [512,1536]', ()=>a1536.mul(b1536)],
 ['sigmoid [512,1536]', ()=>tf.sigmoid(a1536)],
 ['add scalar [512,1536] (JS number)', ()=>a1536.add(1)],
 ['add [512,576]', ()=>a576.add(b576)],
 ['mul [512,576]x[512,1]', ()=>a576.mul(r1)],
 ['mean(-1) [512,576]', ()=>a576.mean(-1,true)],
 ['softmax [12,384,128]', ()=>tf.softmax(s,-1)],
 ['mul [12,384,128] scalar', ()=>s.mul(0.125)],
 ['mul [4,9,128,64]x[128,64]', ()=>q4.mul(cos)],
 ['split [4,9,128,64] in 2 (SplitV)', ()=>tf.split(q4,[32,32],3)],
 ['transpose [4,128,9,64]', ()=>x4.transpose([0,2,1,3])],
 ['reshape [512,576]->[4,128,9,64]', ()=>a576.reshape([4,128,9,64])],
 ['add [4,128] (tiny: dispatch floor)', ()=>tiny.add(tiny)],
];
const res = ops.map(()=>Infinity);
for (let round=0; round<5; round++) ops.forEach(([n,f],i)=>{
  const t0=performance.now(); let last;
  for (let k=0;k<200;k++){ const o=f(); if (k<199) tf.dispose(o); else last=o; }
  (Array.isArray(last)?last:[last]).forEach(y=>y.dataSync()); tf.dispose(last);
  res[i]=Math.min(res[i],(performance.now()-t0)/200*1000);
});
ops.forEach(([n],i)=>console.log(n.padEnd(40), `${res[i].toFixed(0)} µs/op`));
