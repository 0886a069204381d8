"""A corpus of bad problem-spec files, shared by the API tests and the CLI tests.

Each entry: name -> (file text, exception type the API raises, regex of its message).
"""

from numerics import InvalidProblemError, SpecError


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
