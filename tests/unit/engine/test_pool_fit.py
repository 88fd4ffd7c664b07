"""Which run options a pooled container can take (fastctr.engine.pool.unfit):
the process's (command, environment, user, workdir, name, labels, -i, -a)
and nothing else."""
import pytest

from fastctr.engine import RunOptions
from fastctr.engine.pool import unfit


class FakeEngine:
    default_network = "none"


BASE = dict(rm=True, network="none")


@pytest.mark.parametrize("kw", [dict(cmd=["id"]), dict(entrypoint="sh"), dict(env=["A=1"]), dict(env_files=["f"]),
                                dict(workdir="/etc"), dict(user="1000:0"), dict(name="n"), dict(labels=["a=b"]),
                                dict(interactive=True), dict(attach=["stdout"]), dict(quiet=True),
                                dict(network=None), dict(pull="never")])
def test_what_a_pooled_container_takes(kw):
    assert unfit(FakeEngine(), RunOptions(**dict(BASE, **kw)), RunOptions(**BASE)) is None


@pytest.mark.parametrize("kw", [dict(rm=False), dict(detach=True), dict(tty=True), dict(network="bridge"),
                                dict(network="host"), dict(volumes=["/a:/b"]), dict(mounts=["type=tmpfs,dst=/x"]),
                                dict(tmpfs=["/x"]), dict(publish=["80"]), dict(publish_all=True), dict(memory="1g"),
                                dict(cpus="1"), dict(pids_limit="10"), dict(hostname="h"), dict(init=True),
                                dict(privileged=True), dict(cap_add=["NET_ADMIN"]), dict(cap_drop=["ALL"]),
                                dict(security_opt=["no-new-privileges"]), dict(read_only=True),
                                dict(ulimits=["nofile=1:1"]), dict(sysctls=["net.ipv4.ip_forward=1"]),
                                dict(group_add=["50"]), dict(pid="host"), dict(ipc="host"), dict(uts="host"),
                                dict(cidfile="/tmp/x"), dict(restart="always"), dict(log_driver="none"),
                                dict(stop_signal="SIGINT"), dict(devices=["/dev/null"]), dict(domainname="d"),
                                dict(pull="always"), dict(add_hosts=["a:1.2.3.4"]), dict(dns=["1.1.1.1"]),
                                dict(oom_score_adj="10"), dict(shm_size="1m"), dict(platform="linux/arm64")])
def test_what_takes_the_normal_path(kw):
    assert unfit(FakeEngine(), RunOptions(**dict(BASE, **kw)), RunOptions(**BASE)) is not None


def test_a_pool_with_limits_takes_runs_with_the_same_limits():
    base = RunOptions(rm=True, network="none", memory="256m", pids_limit="1024")
    assert unfit(FakeEngine(), RunOptions(cmd=["true"], rm=True, memory="256m", pids_limit="1024"), base) is None
    assert unfit(FakeEngine(), RunOptions(cmd=["true"], rm=True), base) is not None
