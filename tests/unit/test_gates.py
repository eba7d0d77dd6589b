from include.finance import gates
from include.finance.config import Settings
from include.finance.contract import CONTRACTS, KINDS


def test_the_thresholds_come_from_the_settings():
    s = Settings.from_env({"MAX_REJECTED_SHARE": "0.2", "MAX_IMPLAUSIBLE_SHARE": "0.03", "MAX_ORPHAN_SHARE": "0.1",
                           "MAX_CHARGE_AMOUNT": "500"})
    assert "SUM(rows_rejected) <= 0.2 * " in gates.few_rejects(s)["few_rejects"]["check_statement"]
    checks = gates.model_input(s)
    assert "implausible_charges <= 0.03 * " in checks["few_implausible_charges"]["check_statement"]
    assert "orphan_surveys <= 0.1 * " in checks["few_orphan_surveys"]["check_statement"]
    assert gates.model_satisfaction_columns(s)["avg_amount_captured"]["max"] == {"leq_to": 500}
    assert gates.enough_rows(50) == {"enough_rows": {"check_statement": "COUNT(*) >= 50"}}


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
