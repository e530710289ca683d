"""The syllabus's numbers are asserted in the lectures that teach them.

The numbers come from the syllabus (``../shared/SYLLABUS.md``, distilled from the five
lecture decks): each topic's worked numbers, the true values of the decks' errata table
and the reference counts. Lecture ``NN`` teaches topic ``NN``, and its code cells
``assert`` those numbers; this test checks, without running anything, that the asserts
are still there.

How: every code cell of a lecture is parsed with ``ast`` (cells with IPython magics,
lines starting with ``%`` or ``!``, are skipped). The text searched is the source of
every ``assert`` statement plus, only where an assert names them, the statements of the
same cell that bind those names (an ``x = ...`` or a ``for x in ...``), followed two
steps deep: an assert on ``out`` where ``out = correlate2d(A5, w2)`` also sees the line
``A5 = np.array(...)``. Definitions no assert refers to are not searched. The text is
normalised (whitespace and the underscores of digit groups removed, ``'`` read as
``"``), and each entry of ``SYLLABUS_NUMBERS`` must occur in it verbatim.

Syllabus numbers that no lecture asserts yet are not in the table.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LECTURE_DIR = ROOT / "lectures"
NUMBERS = [f"{n:02d}" for n in range(1, 13)]

TOPICS = {
    "01": "Fully connected recap",
    "02": "Images as tensors",
    "03": "Convolution",
    "04": "The convolution layer",
    "05": "Receptive field",
    "06": "Pooling",
    "07": "Backpropagation through conv and pooling",
    "08": "Training a CNN: LeNet-5",
    "09": "Fighting overfitting",
    "10": "Architectures",
    "11": "Transfer learning",
    "12": "Beyond classification",
}

# Per lecture, the syllabus's numbers as the lecture's asserts write them (normalised:
# no whitespace, no digit-group underscores, double quotes). A comment names the
# syllabus item each entry stands for; "(table)" is the errata table, "(reference)" the
# "Reference numbers for tests", "(topic N)" a number of another topic re-asserted here.
SYLLABUS_NUMBERS = {
    "01": [
        "W_prime.shape==(1,3)",  # W' = W2 W1: (1, 3)
        "b_prime.shape==(1,1)",  # b' = W2 b1 + b2: (1, 1)
        "np.isclose(ds.max(),0.25)",  # sigma' <= 1/4, reached at 0
        "np.all(ds<=0.25)",  # sigma' <= 1/4 everywhere
        "*0.25**3*",  # dL/dw1 <= (z3 - t)(1/4)^3 w3 w2 x (the bound the assert uses)
        "np.isclose(etas[0],0.1)",  # eta_t = 0.1 / t^0.3, t = 1
        "0.1/10**0.3",  # eta_t = 0.1 / t^0.3, t = 10
        "0.1/1000**0.3",  # eta_t = 0.1 / t^0.3, t = 1000
        "50176*1000+1000==50177000",  # (topic 4) 224x224 -> 1000 fully connected
        "round(n_weights/1e6)==50",  # (topic 4) ... about 50e6 parameters
    ],
    "02": [
        "cat.shape==(3,300,451)",  # an RGB image: a 3rd-order tensor (C, H, W)
        "batch[n,c,h,w]==batch_nhwc[n,h,w,c]",  # (N, C, H, W) vs (N, H, W, C)
        "scores.shape==(8,NUM_CLASSES)==(8,1000)",  # ILSVRC: 1000 classes
        "top5_error==2/8",  # top-5 error
    ],
    "03": [
        "[3,1,4,1,5,9]",  # (table) 1-D example: A
        "w=np.array([1,0,-1])",  # (table) 1-D example: w
        "[-1,0,-1,-8]",  # (table) 1-D example: true value
        "[[3,1,4],[1,5,9],[2,6,5]]",  # (table) 2-D example: A
        "w2=np.array([[1,0],[0,-1]])",  # (table) 2-D example: w
        "[[-2,-8],[-5,0]]",  # (table) 2-D example: true value
        "[[1,2,-1,0,1],[-1,1,3,4,4],[2,-3,4,3,-4],[-3,2,0,-1,0],[5,2,-4,0,1]]",  # 5x5 A
        "[[0,-1,-5,-4],[2,-3,0,8],[0,-3,5,3],[-5,6,0,-2]]",  # (table) 5x5: true value
        "-(photo[:-2,1]+2*photo[1:-1,1]+photo[2:,1])",  # Sobel Lx's 1, 2, 1 column
        "[1,0,3,0,-1]",  # a = [1, 0, 3, 0, -1]
        "similarity.cosine(a,2*a),1",  # b = 2a => cos = 1
        "similarity.pearson(a,2*a),1",  # b = 2a => rho = 1
    ],
    "04": [
        "P=(k-1)//2",  # same padding P = (F - 1)/2 for stride 1
        "output_size(32,k,pad=P)==32",  # ... keeps the size
        "output_size(7,3,stride=1)==5",  # N=7, F=3, S=1 -> 5
        "output_size(7,3,stride=2)==3",  # N=7, F=3, S=2 -> 3
        "F.conv2d(changed,ones,stride=3),out",  # S=3 does not fit: the last row unread
        "out.shape[-2:]==(2,2)",  # ... torch floors 2.33 to 2
        "out.shape==(1,6,28,28)",  # 32x32x3 input, six 5x5x3 filters -> 28x28x6
        "6*5*5*3+6==456",  # six 5x5x3 filters and their biases
        "per_row==9",  # sparse connectivity: k = 9 weights per output, not n*n
        "50176*1000+1000==50177000",  # weight sharing: 224x224 -> 1000 fully connected
        "A.numel()==n**4",  # edge detection as a dense layer: n^4
        "3*n*n==196608",  # edge detection by convolution: n^2 * 3 operations
        "n**4==4294967296",  # ... vs n^4
    ],
    "05": [
        "sizes3==[(3,3),(5,5),(7,7)]",  # 3x3 stack: 3, 5, 7
        "sizes5==[(5,5),(9,9),(13,13)]",  # 5x5 stack: 5, 9, 13
        '["3x3,stride1"]==[3,5,7]',  # 3x3 stack: 3, 5, 7
        '["5x5,stride1"]==[5,9,13]',  # 5x5 stack: 5, 9, 13
        "two_3x3==18*K**2",  # two 3x3: 18 K^2 weights ...
        "one_5x5==25*K**2",  # ... one 5x5: 25 K^2
        "18*64**2==73728",  # 18 K^2, K = 64
        "25*64**2==102400",  # 25 K^2, K = 64
    ],
    "06": [
        "[[6,8],[3,4]]",  # (table) 2x2 max pooling, stride 2
        "[[36.5,80],[12,15]]",  # (table) 2x2 average pooling (the deck says 36)
        "count_params(layer).total==0",  # pooling has no parameters
        "F.max_pool2d(torch.tensor(grid)[None,None],3,2)",  # overlapping: 3x3, stride 2
        "sizes==[55,27,13,6]",  # ... AlexNet's map sizes
        "7*7*1024*1024==51380224",  # GAP instead of 7x7x1024 -> 1024 (51.3M -> 0)
        "total==6624904",  # (reference) GoogLeNet without auxiliary heads
    ],
    "07": [
        "np.rot90(w,2)",  # the kernel flipped 180 degrees
        'correlate2d(dY,w_rot,mode="full")',  # dX = full convolution of dY, w flipped
        'convolve2d(dY,w,mode="full")',  # ... the same as a true full convolution
        "dw[0,0],ops.correlate2d(X,dY)",  # dW = correlation of X with dY
        "db[0]==dY.sum()",  # db = sum of dY
        "[[6,8],[3,4]]",  # (table) max pooling, whose gradient goes to the arg-max
        "[[36.5,80],[12,15]]",  # (table) average pooling
        "forr,cinwinners]==[1,2,3,4]",  # max pooling routes dY to the arg-max
    ],
    "08": [
        '"c1":(156,',  # C1 156
        '"s2":(12,',  # S2 12
        '"c3":(1516,',  # C3 1516
        '"s4":(32,',  # S4 32
        '"c5":(48120,',  # C5 48120
        '"f6":(10164,',  # F6 10164
        "count_params(Subsampling(6)).total==12",  # S2 12
        "count_params(Subsampling(16)).total==32",  # S4 32
        "c3_params==1516",  # C3 1516
        "[3]*6+[4]*9+[6]",  # the S2 -> C3 partial connection table
        "table.params.total==60000",  # total 60 000
        "(len(train),len(test))==(60000,10000)",  # MNIST 60k/10k
        "modern_error<0.95",  # LeNet-5's test error 0.95 %
    ],
    "09": [
        "2**n==1024",  # dropout: 2^n sub-networks
        "square.shape==(1,3,256,256)",  # AlexNet crops 224 of 256
        "patches.shape==(6,3,224,224)",  # ... 224 x 224 patches
        '{"n":5,"k":2.0,"alpha":1e-4,"beta":0.75}',  # LRN: k, n, alpha, beta
        "1/(2+1e-4)**0.75",  # ... the divisor (k + alpha sum)^beta
    ],
    "10": [
        'lenet_params==models.REFERENCE["lenet5_classic"]["params"]==60000',  # LeNet-5
        "60e6<alexnet_params<61e6",  # AlexNet: 60M parameters
        "==[1,2,1,2,2]",  # AlexNet on 2 GPUs: grouped conv2, conv4, conv5
        'vgg_params["D"]==138357544',  # (reference) VGG16 138,357,544
        '"15.47"',  # (reference) VGG16 15.47G multiply-adds
        "(15470264320,138357544)",  # (reference) VGG16, counted in the zoo table
        "5*5*480*48==576000",  # 5x5x48 on 14x14x480: 576K weights
        "round(naive.macs/1e6,1)==112.9",  # ... 112.9M multiply-adds
        "1*1*480*16+5*5*16*48==26880",  # 16-channel 1x1 first: 26.88K weights
        "round(reduced.macs/1e6,1)==5.3",  # ... 5.3M multiply-adds
        "7*7*1024*1024==51380224",  # (topic 6) GAP instead of the dense layer
        "{18:1.8,34:3.6,50:3.8,101:7.6,152:11.3}",  # ResNet 18..152: 1.8..11.3 GFLOPs
        "abs(macs/1e9-paper)<0.07",  # ... our counts (v1) agree to the paper's decimal
        "(4089184256,25557032)",  # (reference) ResNet-50 v1.5: 4.089G, 25,557,032
    ],
    "11": [
        'np.isclose(groups[0]["lr"],lr/10)',  # fine-tuning: the body at lr / 10
        "new_head.out_features==1",  # a one-output "is there a ...?" head
        'round(by_name["VGG-16"][2],2)==15.47',  # (reference) accuracy vs compute
    ],
    "12": [
        "[[0.0,1.0],[2.0,3.0]]",  # transposed conv: input and kernel [[0,1],[2,3]]
        "[[0,0,1],[0,4,6],[4,12,9]]",  # (table) ... its output
        "pooled[0,0],[[6,8],[3,4]]",  # max-unpooling remembers the max pooling's places
        "unet_output_size(572)==388",  # U-Net: 572 -> 388
        "(1,2,388,388)",  # ... the paper's output map
        "paper.head.kernel_size==(1,1)",  # ... 1x1 output convolution
    ],
}


def lecture_path(number: str, directory: Path = LECTURE_DIR) -> Path:
    """The one notebook ``NN_*.ipynb`` of lecture ``number``."""
    found = sorted(directory.glob(f"{number}_*.ipynb"))
    assert len(found) == 1, f"expected one lecture {number}_*.ipynb, found {found}"
    return found[0]


def normalise(text: str) -> str:
    """No whitespace, no line continuations, 60_000 -> 60000, ' -> "."""
    text = re.sub(r"\\\n", "", text)
    text = re.sub(r"(?<=\d)_(?=\d)", "", text)
    text = re.sub(r"\s+", "", text)
    return text.replace("'", '"')


def _has_magic(source: str) -> bool:
    return any(line.lstrip().startswith(("%", "!")) for line in source.splitlines())


def _loaded_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _bindings(tree: ast.Module) -> list[tuple[set[str], str, ast.AST]]:
    """(names bound, "assign" or "for", statement) for the cell's assignments and for
    loops, outside function and class bodies."""
    out = []
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(node, ast.Assign):
            names = set().union(*(_loaded_names(t) for t in node.targets))
            out.append((names, "assign", node))
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and node.value:
            out.append((_loaded_names(node.target), "assign", node))
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            out.append((_loaded_names(node.target), "for", node))
        stack.extend(c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt))
    return out


def cell_assert_text(source: str, depth: int = 2) -> list[str]:
    """The asserts of one code cell, and the cell's bindings of the names they use,
    followed ``depth`` steps."""
    tree = ast.parse(source)
    asserts = [n for n in ast.walk(tree) if isinstance(n, ast.Assert)]
    texts = [ast.get_source_segment(source, n) or "" for n in asserts]
    if not asserts:
        return texts
    bindings = _bindings(tree)
    wanted = set().union(*(_loaded_names(n) for n in asserts))
    used: set[int] = set()
    for _ in range(depth):
        more: set[str] = set()
        for names, kind, node in bindings:
            if id(node) in used or not names & wanted:
                continue
            used.add(id(node))
            if kind == "for":  # the loop's header only: `target in iter`
                texts.append(" in ".join(ast.get_source_segment(source, n) or ""
                                         for n in (node.target, node.iter)))
                more |= _loaded_names(node.iter)
            else:
                texts.append(ast.get_source_segment(source, node) or "")
                more |= _loaded_names(node.value)
        wanted = more
    return texts


def assert_text(path: Path) -> str:
    """The normalised text of a lecture's asserts (and what they refer to)."""
    nb = nbformat.read(path, as_version=4)
    texts = []
    for cell in nb.cells:
        if cell.cell_type != "code" or _has_magic(cell.source):
            continue
        texts.extend(cell_assert_text(cell.source))
    return "\n".join(normalise(t) for t in texts)


def missing_numbers(number: str, path: Path) -> list[str]:
    text = assert_text(path)
    return [entry for entry in SYLLABUS_NUMBERS[number] if entry not in text]


def test_every_lecture_has_an_entry():
    lectures = {p.name[:2] for p in LECTURE_DIR.glob("[0-9][0-9]_*.ipynb")}
    assert lectures == set(NUMBERS), "lectures 01..12, one per syllabus topic"
    assert set(SYLLABUS_NUMBERS) == set(NUMBERS) == set(TOPICS)
    for number in NUMBERS:
        lecture_path(number)
        entries = SYLLABUS_NUMBERS[number]
        assert entries, f"lecture {number} lists no syllabus numbers"
        assert len(entries) == len(set(entries)), f"lecture {number}: duplicate entries"
        assert all(entry == normalise(entry) for entry in entries), \
            f"lecture {number}: entries are written normalised"


@pytest.mark.parametrize("number", NUMBERS)
def test_lecture_asserts_the_syllabus_numbers(number):
    path = lecture_path(number)
    missing = missing_numbers(number, path)
    assert not missing, (
        f"{path.name} (syllabus topic {int(number)}, {TOPICS[number]}) no longer "
        f"asserts these syllabus numbers: {missing}. Restore the asserts, or, if the "
        "syllabus changed, update SYLLABUS_NUMBERS in tests/test_syllabus.py."
    )
