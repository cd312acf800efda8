/* eslint-disable */ // a raw probe kept with the figures it produced (CommonJS, plain Node)
// Alternating matMul micro-benchmark on native TensorFlow (min of 7 per shape). Run from the repository root:
//   TF_ENABLE_ONEDNN_OPTS=0 node docs/bench/2026-12-03/matmul-probe.js; TF_ENABLE_ONEDNN_OPTS=1 node docs/bench/2026-12-03/matmul-probe.js
const { tf, R, cmp } = require('./h.js');
const V=50257, d=768;
const a=R([2048,2048]), b=R([2048,2048]);
const x=R([512,768]), w=R([768,768]), w3=R([768,3072]), w3t=R([3072,768]), h=R([512,3072]);
const E=R([V,d]); const Et=E.transpose(); const hh=R([256,d]); const P=R([256,V]);
const q=R([48,128,64]), k=R([48,128,64]), p=R([48,128,128]);
cmp([
 ['2048^3', ()=>tf.matMul(a,b), 2*2048**3],
 ['2048^3 tB', ()=>tf.matMul(a,b,false,true), 2*2048**3],
 ['512x768x768', ()=>tf.matMul(x,w), 2*512*768*768],
 ['512x768x3072', ()=>tf.matMul(x,w3), 2*512*768*3072],
 ['512x768x3072 tB', ()=>tf.matMul(x,w3t,false,true), 2*512*768*3072],
 ['512x3072x768', ()=>tf.matMul(h,w3t), 2*512*768*3072],
 ['512x3072x768 tB', ()=>tf.matMul(h,w3,false,true), 2*512*768*3072],
 ['xT·h (768x512x3072) tA', ()=>tf.matMul(x,h,true,false), 2*512*768*3072],
 ['head 256 Et', ()=>tf.matMul(hh,Et), 2*256*d*V],
 ['head 256 E tB', ()=>tf.matMul(hh,E,false,true), 2*256*d*V],
 ['headbwd 256', ()=>tf.matMul(P,E), 2*256*d*V],
 ['qkT 48', ()=>tf.matMul(q,k,false,true), 2*48*128*128*64],
 ['pv 48', ()=>tf.matMul(p,k), 2*48*128*128*64],
], 7);
