// A1111-compatible helpers for user and extension scripts: gradioApp(), onUiLoaded(),
// onUiUpdate(), onAfterUiUpdate(), onUiTabChange(), get_uiCurrentTab(). Runs before the others.

function gradioApp() {
    const apps = document.getElementsByTagName("gradio-app");
    const root = apps.length ? apps[0] : document;
    return root.shadowRoot || root;
}

var uiLoadedCallbacks = [];
var uiUpdateCallbacks = [];
var uiAfterUpdateCallbacks = [];
var uiTabChangeCallbacks = [];
var optionsChangedCallbacks = [];

function onUiLoaded(callback) { uiLoadedCallbacks.push(callback); }
function onUiUpdate(callback) { uiUpdateCallbacks.push(callback); }
function onAfterUiUpdate(callback) { uiAfterUpdateCallbacks.push(callback); }
function onUiTabChange(callback) { uiTabChangeCallbacks.push(callback); }
function onOptionsChanged(callback) { optionsChangedCallbacks.push(callback); }

function executeCallbacks(queue, arg) {
    for (const callback of queue) {
        try {
            callback(arg);
        } catch (e) {
            console.error("error running callback", callback, e);
        }
    }
}

function get_uiCurrentTab() {
    return gradioApp().querySelector("#tabs > .tab-nav > button.selected, #tabs button[role=tab][aria-selected=true]");
}

function get_uiCurrentTabContent() {
    const app = gradioApp();
    return app.querySelector("#tabs > .tabitem:not([style*='display: none']), #tabs [role=tabpanel]:not([hidden])");
}

// The generate button of the tab on screen (txt2img_generate / img2img_generate).
function easelVisibleGenerateButton() {
    for (const id of ["txt2img_generate", "img2img_generate"]) {
        const button = gradioApp().querySelector("#" + id);
        if (button && button.offsetParent !== null) return button;
    }
    return null;
}

function easelUiLoaded() {
    executeCallbacks(uiLoadedCallbacks);
    let lastTab = null;
    let pending = false;
    const observer = new MutationObserver((mutations) => {
        executeCallbacks(uiUpdateCallbacks, mutations);
        if (pending) return;
        pending = true;
        setTimeout(() => {  // once per burst of changes, as A1111 does
            pending = false;
            executeCallbacks(uiAfterUpdateCallbacks);
            const tab = get_uiCurrentTab();
            if (tab && tab !== lastTab) {
                lastTab = tab;
                executeCallbacks(uiTabChangeCallbacks);
            }
        }, 200);
    });
    observer.observe(gradioApp(), {childList: true, subtree: true});
}
