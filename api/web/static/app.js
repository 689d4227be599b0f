// Progressive touches only; every page works without this file.
// The e-mail template editor previews as you type: the form is posted to the preview URL
// and the answer shown in a sandboxed frame.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-preview]");
  if (!form) return;
  const frame = document.getElementById("preview-frame");
  const subject = document.getElementById("preview-subject");
  const problem = document.getElementById("preview-problem");
  let timer = null;
  const refresh = async () => {
    const response = await fetch(form.dataset.preview, { method: "POST", body: new FormData(form) });
    const json = (response.headers.get("content-type") || "").includes("application/json");
    // Not JSON: the session ended or the form expired; say so instead of going quiet.
    const body = json ? await response.json()
      : { detail: `The preview is not available (${response.status}); reload the page.` };
    if (response.ok && json) {
      subject.textContent = body.subject;
      frame.srcdoc = body.html;
      problem.textContent = "";
      problem.hidden = true;
    } else {
      problem.textContent = body.detail;
      problem.hidden = false;
    }
  };
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(refresh, 300); });
  refresh();
});
