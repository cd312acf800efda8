/* eslint-disable */ // raw probe (CommonJS). From the repo root: TF_ENABLE_ONEDNN_OPTS=1 node docs/bench/2026-12-04/smollm/shapes-probe.js
// The matMul shapes of one smollm-135m and one distilgpt2 training step (N = 512 rows), and the Llama-only elementwise pieces, min of 9, round-robin.
const { tf, R, cmp } = require('../../2026-12-03/h.js');
const N=512; const R0=R([2048,2048]), R1=R([2048,2048]);
const x576=R([N,576]), w576=R([576,576]), w192=R([576,192]), w1536=R([576,1536]), wd=R([1536,576]), h1536=R([N,1536]), dy192=R([N,192]);
const x768=R([N,768]), w768=R([768,768]), w2304=R([768,2304]), w3072=R([768,3072]), h3072=R([N,3072]), wd3=R([3072,768]);
const E=R([576,49152]), Er=R([49152,576]), hh=R([256,576]), P=R([256,49152]);
const qg=R([12,384,64]), kg=R([12,128,64]), pg=R([12,384,128]);
const q4=R([4,9,128,64]), cos=R([128,64]), sin=R([128,64]);
const xr=R([N,576]), nw=R([576]);
const rope=(x)=>tf.tidy(()=>{const [a,b]=tf.split(x,[32,32],3);return x.mul(cos).add(tf.concat([b.neg(),a],3).mul(sin));});
const fl=(m,k,n,b=1)=>2*m*k*n*b;
cmp([
 ['2048^3', ()=>tf.matMul(R0,R1), fl(2048,2048,2048)],
 ['smol q/o [512,576]x[576,576]', ()=>tf.matMul(x576,w576), fl(N,576,576)],
 ['smol k/v [512,576]x[576,192]', ()=>tf.matMul(x576,w192), fl(N,576,192)],
 ['smol gate/up [512,576]x[576,1536]', ()=>tf.matMul(x576,w1536), fl(N,576,1536)],
 ['smol down [512,1536]x[1536,576]', ()=>tf.matMul(h1536,wd), fl(N,1536,576)],
 ['smol dx q/o dy*W^T 576 tB', ()=>tf.matMul(x576,w576,false,true), fl(N,576,576)],
 ['smol dx k/v [512,192]x[576,192]T', ()=>tf.matMul(dy192,w192,false,true), fl(N,576,192)],
 ['smol dx gate/up [512,1536]x[576,1536]T', ()=>tf.matMul(h1536,w1536,false,true), fl(N,576,1536)],
 ['smol dx down [512,576]x[1536,576]T', ()=>tf.matMul(x576,wd,false,true), fl(N,1536,576)],
 ['smol head [256,576]x[576,49152]', ()=>tf.matMul(hh,E), fl(256,576,49152)],
 ['smol head bwd [256,49152]x[49152,576]', ()=>tf.matMul(P,Er), fl(256,576,49152)],
 ['smol attn qk [12,384,64]x[12,128,64]T', ()=>tf.matMul(qg,kg,false,true), fl(384,64,128,12)],
 ['smol attn pv [12,384,128]x[12,128,64]', ()=>tf.matMul(pg,kg), fl(384,64,128,12)],
 ['gpt2 [512,768]x[768,768]', ()=>tf.matMul(x768,w768), fl(N,768,768)],
 ['gpt2 c_attn [512,768]x[768,2304]', ()=>tf.matMul(x768,w2304), fl(N,768,2304)],
 ['gpt2 fc [512,768]x[768,3072]', ()=>tf.matMul(x768,w3072), fl(N,768,3072)],
 ['gpt2 proj [512,3072]x[3072,768]', ()=>tf.matMul(h3072,wd3), fl(N,3072,768)],
 ['llama rope on q [4,9,128,64] (6 ops)', ()=>rope(q4), 0],
 ['llama rmsNorm [512,576] (6 ops)', ()=>tf.tidy(()=>xr.mul(tf.rsqrt(xr.square().mean(-1,true).add(1e-5))).mul(nw)), 0],
 ['llama silu*up [512,1536] (3 ops)', ()=>tf.tidy(()=>h1536.mul(tf.sigmoid(h1536)).mul(h1536)), 0],
 ['splitHeads reshape+transpose [512,576]', ()=>x576.reshape([4,128,9,64]).transpose([0,2,1,3]), 0],
 ['one add [512,576]', ()=>x576.add(x576), 0],
 ['one add [4,128]', ()=>cos.add(cos), 0],
], 9);
