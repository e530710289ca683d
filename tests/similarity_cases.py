"""Answers to assignment 01 for the copy-detection tests: honest variants and disguises.

Each function has several independent ways of writing it, as different students
would: different structure, different names. A "submission" is the five answer
cells concatenated, as the grader sees them. ``disguise`` turns an answer into the
kind of copy a student hands in: names changed, comments cut, re-indented.
"""

from __future__ import annotations

import io
import keyword
import tokenize

CORRELATE = {
    "slices": '''def correlate2d(image, kernel):
    """Valid 2-D cross-correlation.

    image: (H, W), kernel: (HH, WW) -> out: (H - HH + 1, W - WW + 1), float.
    """
    image = np.asarray(image, dtype=float)
    kernel = np.asarray(kernel, dtype=float)
    H, W = image.shape
    HH, WW = kernel.shape
    out = np.zeros((H - HH + 1, W - WW + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[i : i + HH, j : j + WW] * kernel)
    return out
''',
    "four_loops": '''def correlate2d(image, kernel):
    """Valid 2-D cross-correlation.

    image: (H, W), kernel: (HH, WW) -> out: (H - HH + 1, W - WW + 1), float.
    """
    rows = image.shape[0] - kernel.shape[0] + 1
    cols = image.shape[1] - kernel.shape[1] + 1
    result = np.zeros((rows, cols))
    for r in range(rows):
        for c in range(cols):
            total = 0.0
            for p in range(kernel.shape[0]):
                for q in range(kernel.shape[1]):
                    total += image[r + p][c + q] * kernel[p][q]
            result[r][c] = total
    return result
''',
    "patch_sum": '''def correlate2d(image, kernel):
    """Valid 2-D cross-correlation.

    image: (H, W), kernel: (HH, WW) -> out: (H - HH + 1, W - WW + 1), float.
    """
    img = np.array(image, dtype=np.float64)
    k = np.array(kernel, dtype=np.float64)
    kh, kw = k.shape
    out_h = img.shape[0] - kh + 1
    out_w = img.shape[1] - kw + 1
    res = np.empty((out_h, out_w))
    for y in range(out_h):
        for x in range(out_w):
            patch = img[y:y + kh, x:x + kw]
            res[y, x] = (patch * k).sum()
    return res
''',
    "einsum": '''def correlate2d(image, kernel):
    """Valid 2-D cross-correlation.

    image: (H, W), kernel: (HH, WW) -> out: (H - HH + 1, W - WW + 1), float.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    kernel = np.asarray(kernel, dtype=float)
    windows = sliding_window_view(np.asarray(image, dtype=float), kernel.shape)
    return np.einsum("ijkl,kl->ij", windows, kernel)
''',
    "shifted_sums": '''def correlate2d(image, kernel):
    """Valid 2-D cross-correlation.

    image: (H, W), kernel: (HH, WW) -> out: (H - HH + 1, W - WW + 1), float.
    """
    a = np.asarray(image, float)
    m, n = kernel.shape
    oh, ow = a.shape[0] - m + 1, a.shape[1] - n + 1
    acc = np.zeros((oh, ow))
    # add each kernel tap times the image shifted by that tap
    for dy in range(m):
        for dx in range(n):
            acc += kernel[dy, dx] * a[dy:dy + oh, dx:dx + ow]
    return acc
''',
}

PAD = {
    "index_arrays": '''def pad2d(x, pad, mode="zeros"):
    """Pad the last two axes of x: (N, C, H, W) -> (N, C, H + 2*pad, W + 2*pad)."""
    x = np.asarray(x)
    if mode not in ("zeros", "reflect", "replicate"):
        raise ValueError(f"expected mode zeros, reflect or replicate, got {mode!r}")
    N, C, H, W = x.shape
    if mode == "zeros":
        out = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=x.dtype)
        out[:, :, pad : pad + H, pad : pad + W] = x
        return out

    def source(n):
        idx = np.arange(-pad, n + pad)
        if mode == "replicate":
            return np.clip(idx, 0, n - 1)
        idx = np.abs(idx)
        return np.where(idx > n - 1, 2 * (n - 1) - idx, idx)

    rows, cols = source(H), source(W)
    return x[:, :, rows[:, None], cols[None, :]]
''',
    "concatenate": '''def pad2d(x, pad, mode="zeros"):
    """Pad the last two axes of x: (N, C, H, W) -> (N, C, H + 2*pad, W + 2*pad)."""
    if pad == 0:
        return x.copy()
    if mode == "zeros":
        left = np.zeros(x.shape[:3] + (pad,))
        x = np.concatenate([left, x, left], axis=3)
        top = np.zeros(x.shape[:2] + (pad, x.shape[3]))
        return np.concatenate([top, x, top], axis=2)
    elif mode == "reflect":
        x = np.concatenate([x[..., 1:pad + 1][..., ::-1], x,
                            x[..., -pad - 1:-1][..., ::-1]], axis=3)
        return np.concatenate([x[:, :, 1:pad + 1][:, :, ::-1], x,
                               x[:, :, -pad - 1:-1][:, :, ::-1]], axis=2)
    elif mode == "replicate":
        x = np.concatenate([x[..., :1]] * pad + [x] + [x[..., -1:]] * pad, axis=3)
        return np.concatenate([x[:, :, :1]] * pad + [x] + [x[:, :, -1:]] * pad, axis=2)
    else:
        raise ValueError("unknown mode " + str(mode))
''',
    "per_pixel": '''def pad2d(x, pad, mode="zeros"):
    """Pad the last two axes of x: (N, C, H, W) -> (N, C, H + 2*pad, W + 2*pad)."""
    if mode not in ["zeros", "reflect", "replicate"]:
        raise ValueError("mode must be zeros, reflect or replicate")
    n_img, n_ch, h, w = x.shape
    result = np.zeros((n_img, n_ch, h + 2 * pad, w + 2 * pad), dtype=x.dtype)

    def where_from(t, size):
        # which input row (or column) the padded position t copies
        s = t - pad
        if mode == "replicate":
            return min(max(s, 0), size - 1)
        if s < 0:
            return -s
        if s >= size:
            return 2 * size - 2 - s
        return s

    for a in range(h + 2 * pad):
        for b in range(w + 2 * pad):
            inside = pad <= a < h + pad and pad <= b < w + pad
            if mode == "zeros" and not inside:
                continue
            result[:, :, a, b] = x[:, :, where_from(a, h), where_from(b, w)]
    return result
''',
}

SIZE = {
    "numerator": '''def conv_output_size(size, kernel, stride=1, pad=0, dilation=1):
    """Output length along one axis; ValueError if it is not a positive integer."""
    span = dilation * (kernel - 1) + 1
    numerator = size + 2 * pad - span
    if numerator < 0 or numerator % stride != 0:
        raise ValueError(
            f"output size ({size} + 2*{pad} - {span})/{stride} + 1 = "
            f"{numerator / stride + 1:.2f} is not a positive integer"
        )
    return numerator // stride + 1
''',
    "float_check": '''def conv_output_size(size, kernel, stride=1, pad=0, dilation=1):
    """Output length along one axis; ValueError if it is not a positive integer."""
    out = (size + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1
    if out < 1 or not float(out).is_integer():
        raise ValueError("output size " + str(out) + " is not a positive integer")
    return int(out)
''',
    "divmod": '''def conv_output_size(size, kernel, stride=1, pad=0, dilation=1):
    """Output length along one axis; ValueError if it is not a positive integer."""
    effective = (kernel - 1) * dilation + 1
    q, r = divmod(size + 2 * pad - effective, stride)
    if r or q < 0:
        raise ValueError(f"kernel {effective} does not fit {size} with pad {pad}, "
                         f"stride {stride}")
    return q + 1
''',
}

CONV = {
    "tensordot": '''def conv2d_forward(x, w, b, stride=1, pad=0, dilation=1):
    """x: (N, C, H, W), w: (F, C, HH, WW), b: (F,) -> out: (N, F, H', W')."""
    N, C, H, W = x.shape
    F, C_w, HH, WW = w.shape
    if C_w != C:
        raise ValueError(f"x has {C} channels but w expects {C_w}")
    H_out = conv_output_size(H, HH, stride, pad, dilation)
    W_out = conv_output_size(W, WW, stride, pad, dilation)
    xp = pad2d(x, pad, "zeros")
    out = np.zeros((N, F, H_out, W_out))
    span_h, span_w = dilation * (HH - 1) + 1, dilation * (WW - 1) + 1
    for i in range(H_out):
        for j in range(W_out):
            top, left = i * stride, j * stride
            window = xp[:, :, top : top + span_h : dilation, left : left + span_w : dilation]
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out
''',
    "six_loops": '''def conv2d_forward(x, w, b, stride=1, pad=0, dilation=1):
    """x: (N, C, H, W), w: (F, C, HH, WW), b: (F,) -> out: (N, F, H', W')."""
    n_batch, n_in, height, width = x.shape
    n_out, _, kh, kw = w.shape
    oh = conv_output_size(height, kh, stride, pad, dilation)
    ow = conv_output_size(width, kw, stride, pad, dilation)
    padded = pad2d(x, pad)
    y = np.zeros((n_batch, n_out, oh, ow))
    for n in range(n_batch):
        for f in range(n_out):
            for r in range(oh):
                for c in range(ow):
                    s = b[f]
                    for p in range(kh):
                        for q in range(kw):
                            s += np.dot(padded[n, :, r * stride + p * dilation,
                                               c * stride + q * dilation], w[f, :, p, q])
                    y[n, f, r, c] = s
    return y
''',
    "im2col": '''def conv2d_forward(x, w, b, stride=1, pad=0, dilation=1):
    """x: (N, C, H, W), w: (F, C, HH, WW), b: (F,) -> out: (N, F, H', W')."""
    num, chans = x.shape[:2]
    filters, _, fh, fw = w.shape
    Ho = conv_output_size(x.shape[2], fh, stride, pad, dilation)
    Wo = conv_output_size(x.shape[3], fw, stride, pad, dilation)
    xpad = pad2d(x, pad)
    cols = np.empty((num, Ho * Wo, chans * fh * fw))
    k = 0
    for r in range(Ho):
        for c in range(Wo):
            rr = r * stride + dilation * np.arange(fh)
            cc = c * stride + dilation * np.arange(fw)
            cols[:, k] = xpad[:, :, rr[:, None], cc[None, :]].reshape(num, -1)
            k += 1
    res = cols @ w.reshape(filters, -1).T + b  # (N, Ho*Wo, F)
    return res.transpose(0, 2, 1).reshape(num, filters, Ho, Wo)
''',
}

SOBEL = {
    "sqrt": '''def sobel_edges(image):
    """Gradient magnitude of a grayscale image: (H, W) -> (H - 2, W - 2)."""
    gx = correlate2d(image, SOBEL_X)
    gy = correlate2d(image, SOBEL_Y)
    return np.sqrt(gx**2 + gy**2)
''',
    "hypot": '''def sobel_edges(image):
    """Gradient magnitude of a grayscale image: (H, W) -> (H - 2, W - 2)."""
    return np.hypot(correlate2d(image, SOBEL_X), correlate2d(image, SOBEL_Y))
''',
    "power": '''def sobel_edges(image):
    """Gradient magnitude of a grayscale image: (H, W) -> (H - 2, W - 2)."""
    horizontal = correlate2d(image, SOBEL_X)
    vertical = correlate2d(image, SOBEL_Y)
    magnitude = (horizontal ** 2 + vertical ** 2) ** 0.5
    return magnitude
''',
}

PARTS = (CORRELATE, PAD, SIZE, CONV, SOBEL)

# Five honest students: no two share a way of writing any part.
HONEST = {
    "ana": ("slices", "index_arrays", "numerator", "tensordot", "sqrt"),
    "ben": ("four_loops", "concatenate", "float_check", "six_loops", "hypot"),
    "cao": ("patch_sum", "per_pixel", "divmod", "im2col", "power"),
    "dev": ("einsum", "concatenate", "numerator", "im2col", "sqrt"),
    "eva": ("shifted_sums", "per_pixel", "float_check", "tensordot", "hypot"),
}
# dev shares ana's numerator and sqrt parts and eva ana's tensordot: the same text, as
# if copied; without them the honest pairs share no part at all. Kept out below.
INDEPENDENT = ("ana", "ben", "cao")


def submission(choice: tuple[str, ...]) -> str:
    """The five answer cells of one student, as the grader concatenates them."""
    return "\n\n".join(part[name] for part, name in zip(PARTS, choice))


def disguise(source: str, renames: dict[str, str] | None = None) -> str:
    """A copy made to look different: renamed names, no comments, other whitespace.

    ``renames`` maps old names to new ones; by default every local-looking name of
    two or more letters gets a suffix. Indentation becomes two spaces and blank
    lines are added between statements.
    """
    tokens = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            tok = tok._replace(string="")
        elif tok.type == tokenize.NAME and not keyword.iskeyword(tok.string):
            if renames is not None:
                tok = tok._replace(string=renames.get(tok.string, tok.string))
            elif tok.string not in _KEEP:
                tok = tok._replace(string=f"{tok.string}_v2")
        tokens.append(tok)
    text = tokenize.untokenize(tokens)
    lines = []
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        indent = (len(line) - len(stripped)) // 2
        lines.append(" " * indent + stripped.rstrip())
        if stripped.startswith(("for ", "return", "if ")):
            lines.append("")
    return "\n".join(lines) + "\n"


# Names a copier cannot rename: numpy, builtins, the assignment's own functions.
_KEEP = {
    "np", "range", "len", "min", "max", "abs", "int", "float", "str", "sum",
    "ValueError", "divmod", "dtype", "shape", "zeros", "empty", "sum", "asarray",
    "array", "float64", "arange", "clip", "where", "concatenate", "tensordot",
    "axes", "axis", "sqrt", "hypot", "einsum", "reshape", "transpose", "T", "dot",
    "copy", "is_integer", "numpy", "lib", "stride_tricks", "sliding_window_view",
    "correlate2d", "pad2d", "conv_output_size", "conv2d_forward", "sobel_edges",
    "SOBEL_X", "SOBEL_Y", "mode",
}
