from include.finance.config import Settings
from include.finance.contract import CONTRACTS, KINDS
from include.finance.quality import gates


def test_the_thresholds_come_from_the_settings():
    s = Settings.from_env({"MAX_REJECTED_SHARE": "0.2", "MAX_IMPLAUSIBLE_SHARE": "0.03", "MAX_ORPHAN_SHARE": "0.1",
                           "MAX_CHARGE_AMOUNT": "500", "MIN_MODEL_ROWS": "70"})
    assert gates.few_rejects(s, "charge").check() == {
        "few_rejects": {"check_statement": "SUM(rows_rejected) <= 0.2 * GREATEST(SUM(rows_read), 1)"}}
    implausible, orphans = gates.model_input(s)
    assert implausible.check()["few_implausible_charges"]["check_statement"] == (
        "SUM(implausible_charges) <= 0.03 * GREATEST(SUM(successful_charges - other_currency_charges), 1)")
    assert orphans.check()["few_orphan_surveys"]["check_statement"] == (
        "SUM(orphan_surveys) <= 0.1 * GREATEST(SUM(survey_answers), 1)")
    assert gates.model_satisfaction_columns(s)["avg_amount_captured"]["max"] == {"leq_to": 500}
    assert gates.model_rows(s).check() == {"enough_rows": {"check_statement": "COUNT(*) >= 70"}}


def test_a_failure_names_the_setting_and_its_value_as_a_user_sets_them():
    s = Settings.from_env({"MAX_ORPHAN_SHARE": "0.025", "MIN_INPUT_ROWS": "1000"})
    assert gates.model_input(s)[1].allowed == "MAX_ORPHAN_SHARE 2.5 %"
    assert gates.loaded_rows(s, "charge").allowed == "MIN_INPUT_ROWS 1,000"
    assert gates.few_rejects(s, "charge").failure({"rejected": 3, "read": 40}, "2026-12-05", "load_audit") == (
        "3 of 40 charge rows read on 2026-12-05 (7.5 %) were rejected, more than MAX_REJECTED_SHARE 5 %")


def test_the_figures_a_failure_says_are_the_ones_its_check_compares():
    """One home: the check statement is the condition over the same SQL the figures query selects."""
    for gate in [*gates.model_input(Settings.from_env({})), gates.few_rejects(Settings.from_env({}), "charge"),
                 gates.model_rows(Settings.from_env({}))]:
        statement = gate.check()[gate.name]["check_statement"]
        query = gate.figures_query('"public"."t"', "ds = '2026-12-05'")
        for name, sql in gate.figures.items():
            assert sql in statement and f"{sql} AS {name}" in query


def test_numbers_and_shares_read_as_a_user_writes_them():
    assert [gates.number(v) for v in (2202, 0, -5, 1234.5, 20_000_000.25, None)] == [
        "2,202", "0", "-5", "1,234.50", "20,000,000.25", "NULL"]
    assert [gates.percent(v) for v in (0.05, 0.0963, 0.0015, 1, 0.5)] == ["5 %", "9.6 %", "0.15 %", "100 %", "50 %"]


def test_every_kind_has_its_column_gates_on_columns_of_its_contract():
    for kind in KINDS:
        mapping, contract = gates.loaded_columns(kind), CONTRACTS[kind]
        assert set(mapping) <= set(contract.names)
        assert mapping[contract.key]["unique_check"] == {"equal_to": 0}, f"{kind}: the key is not checked unique"


def test_no_two_checks_share_the_dict_an_operator_writes_its_result_into():
    """SQLColumnCheckOperator stores each check's result in the mapping it was given: a dict shared by two
    columns would let the second column's result overwrite the first's."""
    def leaves(mapping):
        return [check for column in mapping.values() for check in column.values()]

    first, second = gates.loaded_columns("charge"), gates.loaded_columns("charge")
    found = leaves(first) + leaves(second) + leaves(gates.model_satisfaction_columns(Settings.from_env({})))
    assert len({id(check) for check in found}) == len(found)
