//! The forms' one script, served as a file so that the console's Content-Security-Policy can
//! keep refusing inline script: it checks an identity number's check character as it is typed.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The script: for every `input[data-idcheck]`, a hint beside it says whether the 18 characters
/// hold together (GB 11643 MOD 11-2). The server checks again; the hint only saves a round trip.
pub(crate) const FORMS_JS: &str = r#""use strict";
(function () {
  var W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  var C = "10X98765432";
  function problem(v) {
    if (v === "") return null;
    if (!/^[0-9]*$/.test(v.slice(0, 17))) return "前17位应为数字";
    if (v.length < 18) return "还差" + (18 - v.length) + "位";
    if (!/^[0-9Xx]$/.test(v[17])) return "第18位(校验位)应为数字或X";
    var sum = 0;
    for (var i = 0; i < 17; i++) sum += W[i] * (v.charCodeAt(i) - 48);
    var want = C[sum % 11];
    if (v[17].toUpperCase() !== want) return "校验位是" + v[17].toUpperCase() + ",按前17位应为" + want + ";请核对号码";
    return "";
  }
  function check(input) {
    var hint = input.nextElementSibling;
    var p = problem(input.value.trim());
    if (!hint || !hint.classList.contains("id-hint")) return;
    hint.textContent = p === null ? "" : (p === "" ? "✓ 校验位正确" : p);
    hint.className = "id-hint" + (p === null ? "" : (p === "" ? " good" : " bad"));
  }
  var inputs = document.querySelectorAll("input[data-idcheck]");
  for (var i = 0; i < inputs.length; i++) {
    inputs[i].addEventListener("input", function (e) { check(e.target); });
    check(inputs[i]);
  }
})();
"#;

/// `GET /console/forms.js`.
pub(crate) async fn forms_js() -> Response {
    let mut response = FORMS_JS.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}
