//! The reference server of the performance targets: a minimal actix-web
//! handler returning a fixed 300-byte JSON, nothing else (no middleware, no
//! log line). GET by id is measured against it (`load --ceiling URL baseline`).
//!
//! ```text
//! taskset -c 0 cargo run --release --example ceiling -- 127.0.0.1:18199
//! ```

use actix_web::{App, HttpResponse, HttpServer, web};

/// 300 bytes of JSON, about the size of a small SCIM user.
const BODY: &str = concat!(
    r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"0193a0f2-5c1e-7000-8000-000000000001","#,
    r#""userName":"ceiling@example.com","displayName":"Fixed Ref 1","#,
    r#""active":true,"emails":[{"value":"ceiling@example.com","type":"work","primary":true}],"#,
    r#""meta":{"resourceType":"User","version":"W/\"1\""}}"#
);

fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18199".into());
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(|| {
            App::new().default_service(web::to(|| async {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(BODY)
            }))
        })
        .bind(&listen)?;
        println!("ceiling: listening on {listen}");
        server.run().await
    })
}
