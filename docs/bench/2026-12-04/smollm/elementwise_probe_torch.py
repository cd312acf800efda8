# The same ops in PyTorch (2 threads), µs per op, 200 per round, min of 5. Plus HF-style fused pieces.
import time, torch, torch.nn.functional as F
torch.set_num_threads(2)
R=torch.randn
a1536,b1536,a576,b576,s,q4,cos,x4,r1,tiny=R(512,1536),R(512,1536),R(512,576),R(512,576),R(12,384,128),R(4,9,128,64),R(128,64),R(4,128,9,64),R(512,1),R(4,128)
ops=[('mul [512,1536]',lambda:a1536*b1536),('sigmoid [512,1536]',lambda:torch.sigmoid(a1536)),('F.silu [512,1536] (fused, HF)',lambda:F.silu(a1536)),
('add scalar [512,1536]',lambda:a1536+1),('add [512,576]',lambda:a576+b576),('mul [512,576]x[512,1]',lambda:a576*r1),('mean(-1) [512,576]',lambda:a576.mean(-1,keepdim=True)),
('softmax [12,384,128]',lambda:torch.softmax(s,-1)),('mul [12,384,128] scalar',lambda:s*0.125),('mul [4,9,128,64]x[128,64]',lambda:q4*cos),
('split [4,9,128,64] (view)',lambda:q4.split(32,3)),('transpose+contiguous [4,128,9,64]',lambda:x4.transpose(1,2).contiguous()),('add [4,128] (tiny: dispatch floor)',lambda:tiny+tiny)]
res=[float('inf')]*len(ops)
for r in range(5):
  for i,(n,f) in enumerate(ops):
    t=time.perf_counter()
    for k in range(200): f()
    res[i]=min(res[i],(time.perf_counter()-t)/200*1e6)
for (n,_),x in zip(ops,res): print(f"{n:40s} {x:.0f} us/op")
