"""The TCP harness itself (tests/stack/harness.py): the handshake it drives, the completions it runs."""
from sim.engine import MS, US
from stack.core.skbuff import CHECKSUM_PARTIAL

from tests.stack.harness import establish, make_net, run_for, sender


def test_harness_handshake_and_capture():
    net, fake = make_net()
    sk, fd, synack, peer = establish(net, fake)
    assert sk.state_name == "ESTABLISHED"
    assert synack.ip_summed == CHECKSUM_PARTIAL
    assert synack.context.startswith("softirq:NET_RX")


def test_harness_complete_runs_destructor_in_the_given_context():
    net, fake = make_net()
    sk, fd, synack, peer = establish(net, fake)
    p = sender(net, fd, b"a" * 100)
    run_for(net, 100 * US)
    assert p.triggered and p.value == 100
    assert sk.sk_wmem_alloc > 0 and fake.held
    fake.complete(cpu=1)
    assert sk.sk_wmem_alloc == 0
    run_for(net, 1 * MS)
