"""Does an OpenCV Haar face prior help the shipped TPP model? Fit one weight on val, report the gain on test.

    python benchmarks/tpp_face_prior.py      (needs the OSIE data; about 2-3 min on 2 cores)

The model's density is constant over its cells, so reweighting cells by exp(w * face_map[cell]) and renormalising
changes the log-density at a fixation by exactly w*f[c] - logsumexp(logp + w*f) (the spread inside a cell is unchanged).
"""
import math
import time

import cv2
import torch

torch.set_num_threads(1)
from gazekit.datasets.osie import load
from gazekit.datasets.splits import split_by
from gazekit.images import load_image
from gazekit.models import create_model

ds = load(); sp = ds.scanpaths
idx = split_by(sp.image, (0.8, 0.1, 0.1), 0)
model = create_model("tpp-osie")
casc = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
def collect(split):
    rows = idx[split].tolist(); names = sorted({sp.image[i] for i in rows}); out = []; nfaces = 0
    for name in names:
        img = load_image(ds.images[name]); h, w = img.shape[-2:]
        gray = cv2.cvtColor(cv2.imread(str(ds.images[name])), cv2.COLOR_BGR2GRAY)
        faces = casc.detectMultiScale(gray, 1.1, 4, minSize=(16, 16)); nfaces += len(faces)
        hum = sp[[i for i in rows if sp.image[i] == name]]
        with torch.no_grad():
            res = model._score(img[None].expand(len(hum), *img.shape), hum)
        g = res["grid"]; fine, _ = model.fine_cell(hum.x.float(), hum.y.float(), g)
        cy = (torch.arange(g["gh"]) + 0.5) * h / g["gh"]; cx = (torch.arange(g["gw"]) + 0.5) * w / g["gw"]
        f = torch.zeros(g["gh"], g["gw"])
        for (x0, y0, bw, bh) in faces:
            s = max(bw, bh) / 2
            f = f + torch.exp(-((cx[None] - x0 - bw / 2) ** 2 + (cy[:, None] - y0 - bh / 2) ** 2) / (2 * s * s))
        f = f.clamp(max=1).flatten()
        m = hum.mask
        lp = res["logp"][:, : hum.max_length][m]  # [N, P]
        c = fine[m]
        out.append((lp, c, f))
    print(split, len(names), "images", nfaces, "faces", flush=True)
    return out
def ll(data, w):
    tot = n = 0.0
    for lp, c, f in data:
        adj = lp + w * f
        tot += float((adj.gather(1, c[:, None])[:, 0] - torch.logsumexp(adj, 1)).sum()); n += len(c)
    return tot / n / math.log(2)
t = time.time()
val, test = collect("val"), collect("test")
grid = [0, 0.25, 0.5, 1, 1.5, 2, 3, 4]
vals = {w: ll(val, w) for w in grid}
best = max(vals, key=vals.get)
print("val gain (bits/fix) by w:", {w: round(v - vals[0], 4) for w, v in vals.items()})
print(f"chosen w={best}; test gain {ll(test, best) - ll(test, 0):+.4f} bits/fixation; {time.time()-t:.0f}s")
