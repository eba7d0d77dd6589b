from include.finance.report import model_table, text_table


def test_text_table_aligns_text_left_numbers_right_and_marks_missing_values():
    table = text_table([{"file": "a.csv", "rows": 7, "share": 0.5}, {"file": "longer.csv", "rows": 1234, "share": None}],
                       {"file": "", "rows": "d", "share": ".2f"})
    assert table.splitlines() == [
        "file        rows  share",
        "a.csv          7   0.50",
        "longer.csv  1234      -",
    ]


def test_model_table_puts_the_best_cross_validated_r2_first():
    results = [{"model": m, "cv_r2": r2, "cv_r2_std": 0.01, "r2_train": 0.9, "r2_test": 0.8, "fit_seconds": 1.0}
               for m, r2 in (("Lasso", 0.78), ("PoissonGLM", 0.8446), ("RandomForest", 0.79))]
    lines = model_table(results).splitlines()
    assert lines[0].split() == ["model", "cv_r2", "cv_r2_std", "r2_train", "r2_test", "fit_seconds"]
    assert [line.split()[0] for line in lines[1:]] == ["PoissonGLM", "RandomForest", "Lasso"]
    assert lines[1].split()[1] == "0.8446"
