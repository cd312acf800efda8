# The same shapes in PyTorch (2 threads), min of 9 round-robin. .venv-interop/bin/python docs/bench/2026-12-04/smollm/shapes_probe_torch.py
import time, torch
torch.set_num_threads(2)
N=512; R=lambda *s: torch.randn(*s)
a,b=R(2048,2048),R(2048,2048)
x576,w576,w192,w1536,wd,h1536,dy192=R(N,576),R(576,576),R(576,192),R(576,1536),R(1536,576),R(N,1536),R(N,192)
x768,w768,w2304,w3072,h3072,wd3=R(N,768),R(768,768),R(768,2304),R(768,3072),R(N,3072),R(3072,768)
E,Er,hh,P=R(576,49152),R(49152,576),R(256,576),R(256,49152)
qg,kg,pg=R(12,384,64),R(12,128,64),R(12,384,128)
fl=lambda m,k,n,bt=1: 2*m*k*n*bt
V=[('2048^3',lambda:a@b,fl(2048,2048,2048)),
('smol q/o',lambda:x576@w576,fl(N,576,576)),('smol k/v',lambda:x576@w192,fl(N,576,192)),
('smol gate/up',lambda:x576@w1536,fl(N,576,1536)),('smol down',lambda:h1536@wd,fl(N,1536,576)),
('smol dx q/o tB',lambda:x576@w576.t(),fl(N,576,576)),('smol dx k/v tB',lambda:dy192@w192.t(),fl(N,576,192)),
('smol dx gate/up tB',lambda:h1536@w1536.t(),fl(N,576,1536)),('smol dx down tB',lambda:x576@wd.t(),fl(N,1536,576)),
('smol head',lambda:hh@E,fl(256,576,49152)),('smol head bwd',lambda:P@Er,fl(256,576,49152)),
('smol attn qk',lambda:qg@kg.transpose(1,2),fl(384,64,128,12)),('smol attn pv',lambda:pg@kg,fl(384,64,128,12)),
('gpt2 768^2',lambda:x768@w768,fl(N,768,768)),('gpt2 c_attn',lambda:x768@w2304,fl(N,768,2304)),
('gpt2 fc',lambda:x768@w3072,fl(N,768,3072)),('gpt2 proj',lambda:h3072@wd3,fl(N,3072,768))]
T=[[] for _ in V]
for _,f,_ in V: f()
for r in range(9):
  for i,(n,f,_) in enumerate(V):
    t=time.perf_counter(); f(); T[i].append(time.perf_counter()-t)
for (n,_,F),t in zip(V,T):
  t=sorted(t); print(f"{n:44s} min {t[0]*1e3:.2f} med {t[4]*1e3:.2f} ms {F/t[0]/1e9:.0f} GFLOP/s (min)")
