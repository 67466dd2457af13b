//! "Try an event": the adapter over `service::simulate`. Nothing is written, sent or counted;
//! the simulation runs on the blocking pool (a JWE or the password rules take a moment).

use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::{api_path, api_path2, blocking, get_with, ok, post_json, service_error, Session};
use crate::app::App;
use crate::service::simulate::{self, Sample, SimulateRequest};

/// The bundled sample events.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SampleList {
    pub samples: Vec<Sample>,
}

async fn samples(_s: Session, _app: Arc<App>) -> Result<Response, Rejection> {
    ok(SampleList {
        samples: simulate::samples().to_vec(),
    })
}

async fn run(_s: Session, req: SimulateRequest, app: Arc<App>) -> Result<Response, Rejection> {
    let sim = blocking("the simulation", move || {
        simulate::simulate(&app.simulation_deps(), &req)
    })
    .await?
    .map_err(service_error)?;
    ok(sim)
}

pub(super) fn routes(app: Arc<App>) -> warp::filters::BoxedFilter<(Response,)> {
    let samples = api_path2("simulate", "samples")
        .and(get_with(app.clone()))
        .and_then(samples);
    let run = api_path("simulate")
        .and(post_json::<SimulateRequest>(app))
        .and_then(run);
    samples.or(run).unify().boxed()
}
