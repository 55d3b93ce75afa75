"""The job ConfigMap's files are kept for the last jobs seen (they cost 0.65 ms to render at
4096 workers, BENCHMARKS.md): whatever was asked before, what a job gets is what rendering
it afresh gives."""

from hypothesis import given
from hypothesis import strategies as st

from mpifn.children import config
from mpifn.settings import Settings
from mpifn.spec import parse_job
from tests.support.hypothesis_profiles import for_properties
from tests.test_properties import valid_parents

SETTINGS = st.builds(
    Settings,
    probe_url=st.sampled_from(["http://gateway.openfaas:8080/function/probe", "http://127.0.0.1:8080/function/probe"]),
    worker_host_template=st.sampled_from(
        ["{job}-worker-{index}.{job}-worker.{namespace}.svc", "127.20.{index_hi}.{index_lo}"]
    ),
)


@for_properties(share=0.25)
@given(jobs=st.lists(st.tuples(valid_parents(), SETTINGS), min_size=1, max_size=3))
def test_a_jobs_files_are_what_rendering_them_afresh_gives(jobs):
    for parent, settings in jobs + jobs[:1]:
        job = parse_job(parent, settings)
        files = tuple(config.job_config(job, settings)["data"].values())
        assert files == config._rendered_files.__wrapped__(*config._inputs(job, settings))
