"""The public API of each package is exactly its ``__all__``: nothing leaks or vanishes silently."""

import importlib
import subprocess
import sys

import pytest

NUMERICS = {
    "Certificate", "ClassOptimum", "ConditionReport", "DegenerateProblemError", "InvalidProblemError",
    "MonteCarloResult", "Optimum", "Problem", "ResourceLimitError", "SolverError", "SpecError", "StationaryPoint", "WPGDError",
    "certify", "check_conditions", "class_optima", "class_optimum", "classify_stationary", "compare_classes",
    "load_spec", "monte_carlo_risk", "normalized_risk", "parse_spec", "risk", "solve", "solve_highprec",
    "wpgd_predict",
    # issue 12: the library API the CLI calls, and its report objects
    "ClassComparison", "RiskReport", "SolveReport", "conditions_report", "risk_report", "solve_problem",
    "Curve", "theory_curve",
    # issue 15: the architecture atlas
    "AtlasTheory", "architecture_optimum", "atlas_theory",
}
VOCABULARY = {"CLASSES", "CLASS_CHOICES", "DELIMITER_CODES", "GATINGS", "GATING_ALIASES", "MODEL_KINDS",
              "MULTISTEP_CLASSES", "ModelKind", "THEORY_CLASSES", "WEIGHT_CLASSES", "WeightClass",
              "canonical_gating", "class_label", "vector_key_width",
              "ARCHITECTURES", "ARCHITECTURE_NAMES", "ATLAS_CONTEXTS", "Architecture", "SOLVE_CLASS_CHOICES",
              "WPGD_ARCHITECTURES",
              "STEPS_CLASSES", "GDPP_STEPS_CLASSES"}  # issue 17: the L-step classes of wpgd solve --steps
RESULTS = {"Result", "json_clean"}
PROOFS_CHECK = {"Check", "CheckResult", "Evidence", "register", "registered_checks", "run_checks",
                "run_controls"}
STRATEGIES = {"spd_covariances", "task_correlations", "segment_task_models", "problems", "weights",
              "preconditioners", "PROFILE_ENV", "load_profile"}
DERIVATIONS = {
    "Counterexample", "Derivation", "DerivationInputError", "DerivationReport", "Instance", "MonteCarloCheck",
    "Predictor", "PromptModel", "SizeResult", "assert_derivation", "check_derivation", "claim_symbols", "derive_risk",
    "dot",
    "hadamard", "instances", "quad", "segment_split", "skew_corrected_z", "tr", "with_bias", "wpgd_predictor",
}
THEORY_EXPECTATION = {"JointGaussian", "symmetric_matrix", "square_terms", "trace_expectation"}
ARCH = {"ARCH_MODELS", "ArchModel", "ArchTrainResult", "arch_model", "arch_theory", "arch_train_config",
        "construct_model", "naive_recurrent_delta_rule", "naive_recurrent_mamba2", "naive_recurrent_mlstm",
        "naive_recurrent_retnet", "naive_recurrent_rwkv6", "parallel_delta_rule", "parallel_mamba2", "parallel_mlstm",
        "parallel_retnet", "parallel_rwkv6", "retnet_log_decays", "segment_weights", "train_architecture"}
SWEEP = {"SweepTask", "SweepOutcome", "task_key", "read_record", "run_tasks", "DISTRIBUTED_HINT", "dask_available"}
SWEEP_RUN = {"run_sweep", "auto_batch"}
SWEEP_GRID = {"SweepGrid", "load_grid", "parse_grid", "grid_points", "point_problem", "THEORY_CLASSES", "MAX_TASKS"}


@pytest.mark.parametrize(
    "module,expected",
    [
        ("wpgd.numerics", NUMERICS),
        ("wpgd.proofs_check", PROOFS_CHECK),
        ("wpgd.proofs_check.strategies", STRATEGIES),
        ("wpgd.proofs_check.derivations", DERIVATIONS),
        ("wpgd.theory.expectation", THEORY_EXPECTATION),
        ("wpgd.numerics.core.vocabulary", VOCABULARY),
        ("wpgd.numerics.core.results", RESULTS),
        ("wpgd.numerics.core.api", {"RiskReport", "SolveReport", "conditions_report", "risk_report", "solve_problem"}),
        ("wpgd.numerics.core.reports", {"RiskReport", "SolveReport"}),
        ("wpgd.numerics.nn.arch", ARCH),
        ("wpgd.numerics.experiments.sweep", SWEEP),
        ("wpgd.numerics.experiments.sweep_run", SWEEP_RUN),
        ("wpgd.numerics.experiments.sweep_grid", SWEEP_GRID),
    ],
)
def test_public_names(module, expected):
    mod = importlib.import_module(module)
    assert set(mod.__all__) == expected
    for name in mod.__all__:
        assert getattr(mod, name) is not None


def test_every_theory_export_exists():
    import wpgd.theory as theory

    assert len(theory.__all__) == len(set(theory.__all__))
    assert THEORY_EXPECTATION <= set(theory.__all__)
    missing = [n for n in theory.__all__ if not hasattr(theory, n)]
    assert not missing


def test_torch_is_optional_for_the_core():
    code = "import sys, wpgd.numerics, wpgd.theory, wpgd.proofs_check, wpgd.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
