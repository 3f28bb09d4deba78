import pytest

from modules.jobs import Job, JobContext, JobStatus
from modules.jobs.progress import (StepTimer, estimate_eta, idle_progress_response, job_timestamp, plan_fraction,
                                   remaining_steps)
from tests.unit.jobs.conftest import ManualClock


def running_job(kind="txt2img", started_at=None) -> Job:
    return Job(id="j1", owner="a", kind=kind, params={}, status=JobStatus.RUNNING, seq=1, served_seq=1,
               started_at=started_at)


@pytest.mark.parametrize("plan, fraction, left", [
    ((0, 0, 0, 0), 0.0, 0),     # no plan announced yet
    ((0, 2, 0, 10), 0.0, 20),
    ((0, 2, 5, 10), 0.25, 15),
    ((1, 2, 5, 10), 0.75, 5),
    ((2, 2, 0, 10), 1.0, 0),    # after the last next_job
    ((1, 4, 0, 0), 0.25, 0),    # no sampling steps (extras): by image
])
def test_plan_fraction_and_remaining_steps(plan, fraction, left):
    assert plan_fraction(*plan) == pytest.approx(fraction)
    assert remaining_steps(*plan) == left


def test_step_timer_prefers_step_to_step_time_over_the_first_step_that_includes_setup():
    clock = ManualClock()
    timer = StepTimer(clock)
    assert timer.seconds_per_step is None
    clock.advance(4.0)
    timer.record_steps(1)
    assert timer.seconds_per_step == pytest.approx(4.0)  # the only measurement so far
    clock.advance(0.5)
    timer.record_steps(1)
    clock.advance(1.5)
    timer.record_steps(3)  # a runner may report several steps at once
    assert timer.seconds_per_step == pytest.approx(2.0 / 4)


def test_eta_is_unknown_until_measured_then_rate_times_remaining_steps():
    clock = ManualClock()
    timer = StepTimer(clock)
    assert estimate_eta(0, 2, 0, 10, timer) is None
    assert estimate_eta(0, 2, 0, 10, timer, prior_seconds_per_step=0.1) == pytest.approx(2.0)
    clock.advance(1.0)
    timer.record_steps(1)
    clock.advance(0.25)
    timer.record_steps(1)
    assert estimate_eta(0, 2, 2, 10, timer, prior_seconds_per_step=0.1) == pytest.approx(0.25 * 18)


def test_context_reports_plan_progress_and_measured_eta():
    clock = ManualClock()
    ctx = JobContext(running_job(), clock=clock)
    clock.advance(30.0)  # waiting before the plan is announced is not step time
    ctx.set_total(2, 10)
    clock.advance(3.0)   # setup (text encoding) before the first step
    ctx.step(1)
    for step in (2, 3):
        clock.advance(0.5)
        ctx.step(step)
    progress = ctx.progress()
    assert (progress.job_no, progress.job_count, progress.sampling_step, progress.sampling_steps) == (0, 2, 3, 10)
    assert progress.fraction == pytest.approx(0.15)
    assert progress.eta_relative == pytest.approx(0.5 * 17)
    ctx.next_job()
    progress = ctx.progress()
    assert (progress.job_no, progress.sampling_step, progress.fraction) == (1, 0, 0.5)
    assert progress.eta_relative == pytest.approx(0.5 * 10)


def test_context_eta_for_work_without_steps_uses_measured_image_time():
    clock = ManualClock()
    ctx = JobContext(running_job("extras"), clock=clock)
    ctx.set_total(4, 0)
    for _ in range(2):
        clock.advance(2.0)
        ctx.next_job()
    clock.advance(0.5)
    progress = ctx.progress()
    assert progress.fraction == pytest.approx(0.5)
    assert progress.eta_relative == pytest.approx(2.0 * 2 - 0.5)


def test_skip_applies_to_the_current_image_only_and_interrupt_stays():
    ctx = JobContext(running_job())
    ctx.set_total(3, 4)
    assert ctx.check() is False
    ctx.skip()
    assert (ctx.skipped, ctx.check()) == (True, True)
    ctx.next_job()
    assert (ctx.skipped, ctx.check()) == (False, False)
    ctx.interrupt()
    ctx.next_job()
    assert (ctx.interrupted, ctx.check()) == (True, True)


def test_step_count_past_the_total_raises_the_total():
    ctx = JobContext(running_job())
    ctx.set_total(1, 5)
    ctx.step(7)  # adaptive samplers do not know their step count in advance
    assert (ctx.progress().sampling_steps, ctx.progress().fraction) == (7, 1.0)


@pytest.mark.parametrize("call, message", [
    (lambda ctx: ctx.set_total(0, 10), "job_count=0"),
    (lambda ctx: ctx.set_total(1, -1), "steps_per_job=-1"),
    (lambda ctx: ctx.set_total(1.5, 10), "job_count=1.5"),
    (lambda ctx: ctx.step(-2), "step=-2"),
])
def test_bad_progress_reports_name_the_value(call, message):
    with pytest.raises(ValueError, match=message):
        call(JobContext(running_job()))


def test_progress_response_has_a1111_shape():
    ctx = JobContext(running_job(started_at=1_700_000_000.0))
    ctx.set_total(1, 4)
    ctx.step(2)
    ctx.set_preview(b"preview-bytes")
    ctx.textinfo = "Sampling"
    response = ctx.progress_response()
    assert set(response) == set(idle_progress_response())
    assert set(response["state"]) == {"skipped", "interrupted", "job", "job_count", "job_timestamp", "job_no",
                                      "sampling_step", "sampling_steps"}
    assert response["progress"] == pytest.approx(0.5)
    assert response["state"]["job"] == "txt2img"
    assert response["state"]["job_timestamp"] == job_timestamp(1_700_000_000.0)
    assert len(response["state"]["job_timestamp"]) == 14 and response["state"]["job_timestamp"].isdigit()
    assert (response["current_image"], response["textinfo"]) == (b"preview-bytes", "Sampling")
