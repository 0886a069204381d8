"""A corpus of bad problem-spec files, shared by the API tests and the CLI tests.

Each entry: name -> (file text, exception type the API raises, regex of its message).
"""

from wpgd.numerics import InvalidProblemError, SpecError


def _spec(cov='"identity"', tasks="segments = [2, 3]\nquery_correlation = [0.2, 0.8]", extra=""):
    return f"[features]\ndim = 3\ncovariance = {cov}\n\n[tasks]\n{tasks}\n\n[noise]\nvariance = 0.1\n{extra}"


BAD_SPECS = {
    "not toml": ("[features\n", SpecError, "not valid TOML"),
    "missing tasks": ("[features]\ndim = 2\n", SpecError, "missing the \\[tasks\\]"),
    "unknown section": (_spec(extra="[extra]\nx = 1\n"), SpecError, "unknown section"),
    "typo key": (_spec(tasks="segments = [2]\nquery_corelation = [0.5]"), SpecError, "unknown key"),
    "both forms": (_spec(tasks="segments = [2]\nquery_correlation = [0.5]\nmatrix = [[1]]"), SpecError,
                   "exactly one"),
    "no query corr": (_spec(tasks="segments = [2]"), SpecError, "needs query_correlation"),
    "indefinite sigma": (_spec("{matrix = [[1, 2, 0], [2, 1, 0], [0, 0, 1]]}"), InvalidProblemError,
                         "not positive semidefinite"),
    "asymmetric sigma": (_spec("{matrix = [[1, 0.5, 0], [0, 1, 0], [0, 0, 1]]}"), InvalidProblemError,
                         "not symmetric"),
    "nan sigma": (_spec("{diag = [1, nan, 1]}"), InvalidProblemError, "NaN or Inf"),
    "inf corr": (_spec(tasks="segments = [2]\nquery_correlation = [inf]"), InvalidProblemError, "NaN or Inf"),
    "wrong dim": (_spec("{diag = [1, 2]}"), InvalidProblemError, "dim = 3"),
    "non-psd joint": (_spec(tasks="segments = [2]\nquery_correlation = [1.5]"), InvalidProblemError,
                      "joint task correlation"),
    "empty prompt": (_spec(tasks="segments = []\nquery_correlation = []"), InvalidProblemError, "empty"),
    "zero segment": (_spec(tasks="segments = [0]\nquery_correlation = [0.1]"), InvalidProblemError,
                     "at least one"),
    "negative noise": (_spec().replace("variance = 0.1", "variance = -1"), InvalidProblemError, "≥ 0"),
    "ragged": (_spec("{matrix = [[1, 0], [0]]}"), SpecError, "rectangular"),
    "toeplitz 1": (_spec("{toeplitz = 1.0}"), InvalidProblemError, "\\|ρ\\| < 1"),
    "string noise": (_spec().replace("variance = 0.1", 'variance = "a"'), SpecError, "must be a number"),
    "missing file": (_spec('{file = "nope.npy"}'), SpecError, "cannot load"),
    "bad dim": (_spec().replace("dim = 3", "dim = 0"), SpecError, "positive integer"),
    "float segments": (_spec(tasks="segments = [2.5]\nquery_correlation = [0.1]"), SpecError, "positive integers"),
}


# ---------------------------------------------------------------------------------------------
# Hardening corpus (issue 11): every entry must end in the named documented exception (CLI: one
# line, exit 2), never a traceback, a NaN, or a silently changed problem.

_SEG = "segments = [2, 3]\nquery_correlation = [0.2, 0.8]"


def _deep(depth):
    return "[" * depth + "1" + "]" * depth


HARD_SPECS = {
    # scale-aware tolerances: a large-variance feature must not hide an indefinite/asymmetric block
    "hidden indefinite block": (_spec("{matrix = [[1e12, 0, 0], [0, 1, 3], [0, 3, 1]]}"), InvalidProblemError,
                                "not positive semidefinite .*smallest eigenvalue -2"),
    "hidden asymmetric block": (_spec("{matrix = [[1e12, 0, 0], [0, 1, 40], [0, -40, 1]]}"), InvalidProblemError,
                                "not symmetric: entry \\[1,2\\] = 40 but \\[2,1\\] = -40"),
    "hidden indefinite task block": (_spec(tasks="matrix = [[1e12, 0, 0, 0], [0, 1, 3, 0], [0, 3, 1, 0], "
                                                 "[0, 0, 0, 1]]"), InvalidProblemError,
                                     "joint task correlation matrix .*not positive semidefinite"),
    "hidden indefinite joint": (_spec(tasks="segments = [2, 3]\ncorrelation = [[1e12, 0], [0, 1]]\n"
                                            "query_correlation = [0, 3]"), InvalidProblemError,
                                "joint task correlation .*not positive semidefinite"),
    "negative diagonal": (_spec("{diag = [1, -1e-3, 1]}"), InvalidProblemError, "not positive semidefinite"),
    # real numbers only
    "boolean in diag": (_spec("{diag = [1, true, 1]}"), InvalidProblemError, "boolean"),
    "string in matrix": (_spec('{matrix = [[1, 0, 0], [0, "1", 0], [0, 0, 1]]}'), InvalidProblemError,
                         "real numeric values only"),
    "boolean query correlation": (_spec(tasks="segments = [2]\nquery_correlation = [true]"),
                                  InvalidProblemError, "boolean"),
    "date in list": (_spec("{diag = [1, 1979-05-27, 1]}"), InvalidProblemError, "real numeric values only"),
    "table in list": (_spec("{diag = [1, {a = 1}, 1]}"), InvalidProblemError, "real numeric values only"),
    "boolean noise": (_spec().replace("variance = 0.1", "variance = true"), SpecError, "must be a number"),
    "boolean dim": (_spec().replace("dim = 3", "dim = true"), SpecError, "positive integer"),
    "boolean segment": (_spec(tasks="segments = [true]\nquery_correlation = [0.1]"), SpecError, "positive integers"),
    "string segments": (_spec(tasks='segments = "2"\nquery_correlation = [0.1]'), SpecError, "positive integers"),
    "nested segments": (_spec(tasks="segments = [[2]]\nquery_correlation = [0.1]"), SpecError, "positive integers"),
    # wrong types at every key
    "file is a number": (_spec("{file = 5}"), SpecError, "non-empty path string"),
    "file is empty": (_spec('{file = ""}'), SpecError, "non-empty path string"),
    "file is a folder": (_spec('{file = "."}'), SpecError, "is a folder"),
    "file is a device": (_spec('{file = "/dev/zero"}'), SpecError, "not a regular file"),
    "file and more": (_spec('{file = "a.npy", x = 1}'), SpecError, "one key"),
    "covariance number": (_spec("5"), SpecError, "covariance must be"),
    "covariance list": (_spec("[1, 2, 3]"), SpecError, "covariance must be"),
    "covariance two keys": (_spec("{diag = [1, 1, 1], toeplitz = 0.5}"), SpecError, "one key"),
    "unknown covariance": (_spec('"diagonal"'), SpecError, "unknown covariance"),
    "toeplitz string": (_spec('{toeplitz = "0.5"}'), SpecError, "must be a number"),
    "toeplitz nan": (_spec("{toeplitz = nan}"), InvalidProblemError, "\\|ρ\\| < 1"),
    "diag matrix": (_spec("{diag = [[1, 0], [0, 1]]}"), SpecError, "flat list"),
    "tasks not a table": ("tasks = 5\n[features]\ndim = 2\n", SpecError, "must be a table"),
    "features not a table": ("features = 1\n[tasks]\n" + _SEG, SpecError, "must be a table"),
    "query correlation string": (_spec(tasks='segments = [2]\nquery_correlation = "x"'), SpecError,
                                 "list of numbers"),
    "correlation number": (_spec(tasks="segments = [2]\nquery_correlation = [0.1]\ncorrelation = 1"), SpecError,
                           "list of numbers"),
    "query variance string": (_spec(tasks=_SEG + '\nquery_variance = "1"'), SpecError, "must be a number"),
    "query variance negative": (_spec(tasks=_SEG + "\nquery_variance = -1"), InvalidProblemError,
                                "not positive semidefinite|≥ 0"),
    "noise inf": (_spec().replace("variance = 0.1", "variance = inf"), InvalidProblemError, "NaN or Inf"),
    "noise nan": (_spec().replace("variance = 0.1", "variance = nan"), InvalidProblemError, "NaN or Inf"),
    "unicode key": (_spec(tasks=_SEG + '\n"квери\\nvariance" = 1'), SpecError, "unknown key"),
    "empty lists": (_spec("{matrix = []}"), InvalidProblemError, "empty|shape"),
    "empty inner lists": (_spec("{matrix = [[], [], []]}"), InvalidProblemError, "empty|shape"),
    "wrong correlation shape": (_spec(tasks="segments = [2, 3]\nquery_correlation = [0.1, 0.2]\n"
                                            "correlation = [[1]]"), InvalidProblemError, "shape 2×2"),
    "empty task matrix": (_spec(tasks="matrix = [[1]]"), InvalidProblemError, "empty prompt"),
    # sizes and numbers beyond every limit
    "deep nesting": (_spec("{matrix = " + _deep(2000) + "}"), SpecError, "nested too deeply"),
    "nesting 40": (_spec("{matrix = " + _deep(40) + "}"), InvalidProblemError, "nested more than"),
    "4000-digit integer dim": (_spec().replace("dim = 3", "dim = " + "9" * 4000), InvalidProblemError,
                               "beyond the supported"),
    "5000-digit integer": (_spec().replace("dim = 3", "dim = " + "9" * 5000), SpecError, "not valid TOML"),
    "4000-digit integer in list": (_spec("{diag = [1, " + "9" * 4000 + ", 1]}"), InvalidProblemError,
                                   "float64 range|real numbers"),
    "huge integer noise": (_spec().replace("variance = 0.1", "variance = " + "9" * 400), InvalidProblemError,
                           "float64 range"),
    "dim 1e20": (_spec().replace("dim = 3", "dim = 100000000000000000000"), InvalidProblemError,
                 "beyond the supported"),
    "dim 1e6": (_spec().replace("dim = 3", "dim = 1000000"), InvalidProblemError, "memory"),
    "segment 1e20": (_spec(tasks="segments = [100000000000000000000]\nquery_correlation = [0.1]"),
                     InvalidProblemError, "beyond the supported"),
    "negative segment": (_spec(tasks="segments = [-3]\nquery_correlation = [0.1]"), InvalidProblemError,
                         "at least one"),
    "overflowing label variance": (_spec(tasks=_SEG + "\nquery_variance = 1e308"), InvalidProblemError,
                                   "overflows float64"),
    "overflowing trace": (_spec("{diag = [1e308, 1e308, 1e308]}"), InvalidProblemError, "overflows float64"),
    "zero label": (_spec(tasks="segments = [2]\nquery_correlation = [0]\nquery_variance = 0").replace(
        "variance = 0.1", "variance = 0"), InvalidProblemError, "identically zero"),
}
"""name → (spec text, exception the API raises, regex of its message)."""


def _npy_with_header(header: bytes, version=(1, 0)) -> bytes:
    import struct

    if version == (1, 0):
        pad = 64 - (10 + len(header) + 1) % 64
        header = header + b" " * pad + b"\n"
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header
    header = header + b"\n"
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header)) + header


def _npy(arr) -> bytes:
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.asarray(arr), allow_pickle=False)
    return buf.getvalue()


def file_cases():
    """name → (files {name: bytes}, spec text, exception, regex): bad array files beside the spec."""
    import numpy as np

    cov = _spec('{file = "s.npy"}')
    return {
        "npy bool": ({"s.npy": _npy(np.eye(3, dtype=bool))}, cov, SpecError, "boolean"),
        "npy complex": ({"s.npy": _npy(np.eye(3) * (1 + 1j))}, cov, SpecError, "complex"),
        "npy datetime": ({"s.npy": _npy(np.eye(3).astype("datetime64[D]"))}, cov, SpecError, "datetime"),
        "npy string": ({"s.npy": _npy(np.array([["1", "0", "0"]] * 3))}, cov, SpecError, "string"),
        "npy object": ({"s.npy": _npy_with_header(b"{'descr': '|O', 'fortran_order': False, 'shape': (3, 3), }")},
                       cov, SpecError, "object"),
        "npy empty": ({"s.npy": _npy(np.zeros((0, 0)))}, cov, InvalidProblemError, "shape"),
        "npy nan": ({"s.npy": _npy(np.full((3, 3), np.nan))}, cov, InvalidProblemError, "NaN or Inf"),
        "npy float16": ({"s.npy": _npy(np.eye(3, dtype=np.float16) * 60000)}, cov, None, None),
        "npy huge header": ({"s.npy": _npy_with_header(b"{'descr': '<f8', 'fortran_order': False, 'shape': (3, 3), "
                                                       + b" " * 200000 + b"}", (2, 0))},
                            cov, SpecError, "not a readable .npy"),
        "npy huge shape": ({"s.npy": _npy_with_header(b"{'descr': '<f8', 'fortran_order': False, "
                                                      b"'shape': (100000, 100000), }")},
                           cov, InvalidProblemError, "memory"),
        "npy truncated": ({"s.npy": _npy(np.eye(3))[:-20]}, cov, SpecError, "truncated"),
        "npy garbage": ({"s.npy": b"\x93NUMPY garbage" * 10}, cov, SpecError, "not a readable .npy"),
        "npy 3d": ({"s.npy": _npy(np.ones((3, 3, 3)))}, cov, InvalidProblemError, "shape|dimension"),
        "text secret": ({"s.txt": b"root:x:0:0:SECRET-LINE:/root:/bin/bash\n"}, _spec('{file = "s.txt"}'),
                        SpecError, "^(?!.*SECRET).*not a numeric text table"),
        "text not utf8": ({"s.txt": b"\xff\xfe\x00garbage\n"}, _spec('{file = "s.txt"}'), SpecError,
                          "not a numeric text table"),
        "text ok": ({"s.txt": b"1 0 0\n0 2 0\n0 0 3\n"}, _spec('{file = "s.txt"}'), None, None),
        "spec not utf8": ({}, None, SpecError, "not UTF-8"),
    }
