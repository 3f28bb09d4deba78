// Ctrl+Enter (Cmd+Enter on macOS) generates in the tab on screen, as in A1111.
document.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey) || event.isComposing) return;
    const button = easelVisibleGenerateButton();
    if (!button) return;
    event.preventDefault();
    button.click();
});
