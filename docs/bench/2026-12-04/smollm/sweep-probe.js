/* eslint-disable */ // raw probe: add and sigmoid of n floats on native TF, µs per op (200 per round, min of 5). TF_ENABLE_ONEDNN_OPTS=1 node docs/bench/2026-12-04/smollm/sweep-probe.js
const { tf, R } = require('../../2026-12-03/h.js');
for (const n of [1024, 16384, 65536, 262144, 1048576, 4194304, 16777216]) {
  const a=R([n]), b=R([n]); const out=[];
  for (const [nm,f] of [['add',()=>a.add(b)],['sigmoid',()=>tf.sigmoid(a)]]) { let best=Infinity;
    for (let r=0;r<5;r++){ const reps=n>=4194304?20:200; const t0=performance.now(); let last; for(let k=0;k<reps;k++){const o=f(); if(k<reps-1) o.dispose(); else last=o;} last.dataSync(); last.dispose(); best=Math.min(best,(performance.now()-t0)/reps*1000);} 
    out.push(`${nm} ${best.toFixed(0)} µs (${(n*4*(nm==='add'?3:2)/best/1e3).toFixed(1)} GB/s)`); }
  console.log(String(n).padStart(9), out.join('  '));
}
