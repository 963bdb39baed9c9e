// Licensor: progressive enhancement only; every page works without it.
// Copy buttons: <button class="copy" data-copy="ELEMENT-ID" hidden>.
document.addEventListener("DOMContentLoaded", function () {
  // Phones stack table rows as "label: value": label every cell from its
  // column header where the template did not.
  document.querySelectorAll("table.table").forEach(function (table) {
    var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      // A header only screen readers see (an actions column) labels nothing.
      var hidden = th.querySelector(".visually-hidden");
      return hidden && hidden.textContent.trim() === th.textContent.trim() ? "" : th.textContent.trim();
    });
    table.querySelectorAll("tbody tr").forEach(function (row) {
      Array.prototype.forEach.call(row.children, function (cell, i) {
        if (!cell.hasAttribute("data-label") && heads[i]) { cell.setAttribute("data-label", heads[i]); }
      });
    });
  });
  // A form that came back with an error: the focus goes to its first field
  // in error (autofocus does the same without script, where browsers honour it).
  var invalid = document.querySelector("[aria-invalid=true]");
  if (invalid) {
    var closed = invalid.closest("details:not([open])");
    if (closed) { closed.open = true; }
    invalid.focus();
  }
  document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target || !navigator.clipboard) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(target.textContent.trim()).then(function () {
        var label = button.textContent;
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = label; }, 2000);
      });
    });
  });
  // Paddle's overlay checkout, with Licensor's reference in customData
  // (templates/portal/paddle_checkout.html loads Paddle.js on that page only).
  var paddle = document.getElementById("paddle-checkout");
  if (paddle && window.Paddle) {
    if (paddle.getAttribute("data-sandbox") === "1") { window.Paddle.Environment.set("sandbox"); }
    window.Paddle.Initialize({ token: paddle.getAttribute("data-token") });
    window.Paddle.Checkout.open({
      items: [{ priceId: paddle.getAttribute("data-price"), quantity: 1 }],
      customer: { email: paddle.getAttribute("data-email") },
      customData: { licensor_reference: paddle.getAttribute("data-reference") }
    });
  }
});
