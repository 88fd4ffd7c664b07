"""The cgroup v2 device program, built without a kernel: its shape.  (The
v2 lane runs it: tests/integration/v2, devices test.)"""
from fastctr.runtime import devices


def insns(code):
    return [code[i:i + 8] for i in range(0, len(code), 8)]


def test_rules_are_checked_last_first_and_a_rule_that_matches_all_ends_the_program():
    rules = devices.rules_of([{"allow": False, "access": "rwm"},
                              {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}])
    code = insns(devices.program(rules))
    assert code[-1] == devices.EXIT and code[-2] == devices._mov_k(0, 0)
    # 6 loads, then c 1:3 rw: type, access (3 insns), major, minor, verdict (2); then the deny-all verdict.
    assert len(code) == 6 + (1 + 3 + 1 + 1 + 2) + 2
    assert code[6 + 6] == devices._mov_k(0, 1)


def test_every_jump_lands_inside_the_program():
    rules = devices.rules_of([{"allow": True, "type": "b", "major": 8, "access": "r"}]) + \
        [(k, ma, mi, acc, True) for k, ma, mi, acc in devices.DEFAULT_RULES]
    code = insns(devices.program(rules))
    for at, ins in enumerate(code):
        if ins[0] == 0x55:
            target = at + 1 + int.from_bytes(ins[2:4], "little", signed=True)
            assert at < target < len(code)
